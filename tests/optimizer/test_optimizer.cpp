// The Optimizer API as the README shows it, on the CPU.
#include <gtest/gtest.h>
#include <torch/script.h>

#include "mlopt/core/error.h"
#include "mlopt/core/torch_bridge.h"
#include "mlopt/optimizer.h"
#include "test_support.h"

namespace {

using mlopt::InputSpec;
using mlopt::Model;

TEST(Optimizer, ProfileThenOptimizeThenForward) {
  mlopt::Optimizer opt(Model::load(mlopt::test::tiny_gpt2()));
  const auto spec = InputSpec::parse("ids:int64[2,16]");
  mlopt::profiler::ProfileOptions quick;
  quick.iterations = 2;
  quick.warmup = 1;
  const auto report = opt.profile(spec, quick);
  EXPECT_FALSE(report.categories.empty());
  // The spec from profile() is reused.
  const auto optimized = opt.optimize({.flash_attention = true, .fused_mlp = true});
  ASSERT_EQ(optimized.outcomes().size(), 2u);
  for (const auto& o : optimized.outcomes()) EXPECT_TRUE(o.applied) << o.transform << ": " << o.note;
  const auto inputs = mlopt::make_inputs(opt.model(), spec, 3);
  const auto expected = mlopt::forward(opt.model(), inputs).toTensor();
  const auto got = optimized.forward(inputs).toTensor();
  EXPECT_TRUE(at::allclose(got, expected, 1e-4, 1e-4));

  mlopt::test::ScratchDir dir;
  optimized.save(dir / "opt.pt");
  const auto reloaded = Model::load(dir / "opt.pt");
  EXPECT_TRUE(at::allclose(mlopt::forward(reloaded, inputs).toTensor(), got, 1e-6, 1e-6));
}

TEST(Optimizer, RefusesWhatItCannotDo) {
  mlopt::Optimizer opt(Model::load(mlopt::test::tiny_gpt2()));
  EXPECT_THROW(opt.optimize({.flash_attention = true}), mlopt::UsageError);  // no spec yet
  const auto spec = InputSpec::parse("ids:int64[1,8]");
  EXPECT_THROW(opt.optimize({}, spec), mlopt::UsageError);  // nothing chosen
  EXPECT_THROW(opt.optimize({.tensor_parallel_size = 0}, spec), mlopt::UsageError);
  try {
    opt.optimize({.cuda_graphs = true, .tensor_parallel_size = 2}, spec);
    FAIL() << "CUDA graphs with tensor parallelism were accepted";
  } catch (const mlopt::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("not combined with tensor parallelism"), std::string::npos) << e.what();
  }
  mlopt::test::ScratchDir dir;
  const auto tp = opt.optimize({.tensor_parallel_size = 2}, spec);
  EXPECT_THROW(tp.save(dir / "tp.pt"), mlopt::UsageError);
}

// The README's tensor-parallel example: 2 ranks (threads on the CPU) give
// the model's outputs, and the plan says what went where.
TEST(Optimizer, TensorParallelForwardMatchesTheModel) {
  mlopt::Optimizer opt(Model::load(mlopt::test::tiny_gpt2()));
  const auto spec = InputSpec::parse("ids:int64[2,8]");
  const auto tp = opt.optimize({.align_linear = true, .tensor_parallel_size = 2}, spec);
  ASSERT_NE(tp.tensor_parallel_plan(), nullptr);
  EXPECT_EQ(tp.tensor_parallel_plan()->blocks.size(), 4u);
  // The two passes, align_linear (the attention's Conv1D layers as linear), the sharding.
  ASSERT_EQ(tp.outcomes().size(), 4u);
  EXPECT_EQ(tp.outcomes()[2].transform, "align_linear");
  EXPECT_EQ(tp.outcomes().back().transform, "tensor_parallel");
  EXPECT_TRUE(tp.outcomes().back().applied);
  const auto inputs = mlopt::make_inputs(opt.model(), spec, 9);
  const auto expected = mlopt::forward(opt.model(), inputs).toTensor();
  EXPECT_TRUE(at::allclose(tp.forward(inputs).toTensor(), expected, 1e-4, 1e-4));
  EXPECT_EQ(mlopt::Optimizer(opt.model()).optimize({.flash_attention = true}, spec).tensor_parallel_plan(), nullptr);
  // Sequence parallelism and ring attention through the same options.
  const auto sp = opt.optimize({.tensor_parallel_size = 2, .sequence_parallel = true}, spec);
  EXPECT_TRUE(sp.tensor_parallel_plan()->sequence_parallel);
  EXPECT_TRUE(at::allclose(sp.forward(inputs).toTensor(), expected, 1e-4, 1e-4));
  const auto ring = opt.optimize({.ring_attention_size = 2}, spec);
  EXPECT_TRUE(ring.tensor_parallel_plan()->ring_attention);
  EXPECT_TRUE(at::allclose(ring.forward(inputs).toTensor(), expected, 1e-4, 1e-4));
  EXPECT_THROW(opt.optimize({.tensor_parallel_size = 2, .ring_attention_size = 2}, spec), mlopt::UsageError);
  EXPECT_THROW(opt.optimize({.flash_attention = true, .sequence_parallel = true}, spec), mlopt::UsageError);
}

}  // namespace
