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
  try {
    opt.optimize({.flash_attention = true, .tensor_parallel_size = 2}, spec);
    FAIL() << "tensor_parallel_size 2 was accepted";
  } catch (const mlopt::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("tensor_parallel_size 2"), std::string::npos) << e.what();
  }
}

}  // namespace
