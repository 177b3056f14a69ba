// Tensor parallelism on GPUs: ranks simulated on one GPU (threads sharing it,
// the all-reduce through host copies) must reproduce the model with mlopt's
// CUDA kernels in every block; with two or more GPUs, one rank per GPU over
// NCCL through the Optimizer.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "mlopt/core/environment.h"
#include "mlopt/core/model.h"
#include "mlopt/core/sample_models.h"
#include "mlopt/core/tensor_parallel.h"
#include "mlopt/core/torch_bridge.h"
#include "mlopt/optimizer.h"
#include "test_support.h"

using namespace mlopt;

namespace {

Model half_gpt2(const test::ScratchDir& dir, const char* dtype) {
  auto config = samples::gpt2_preset("tiny");
  config.heads = 4;
  config.dim = 256;  // head_dim 64: what the CUDA attention kernel takes
  const auto file = dir / "gpt2.pt";
  samples::write_gpt2(config, file);
  LoadOptions o;
  o.device = parse_device("cuda");
  o.dtype = parse_dtype(dtype);
  return Model::load(file, o);
}

}  // namespace

TEST(TensorParallelCuda, RanksSimulatedOnOneGpuMatchTheModel) {
  if (cuda_device_count() < 1) GTEST_SKIP() << "no CUDA device (or a CPU-only libtorch)";
  test::ScratchDir dir;
  for (const char* dtype : {"fp16", "bf16"}) {
    SCOPED_TRACE(dtype);
    const auto model = half_gpt2(dir, dtype);
    TensorParallelOptions o;
    o.world_size = 2;
    const auto tp = shard_tensor_parallel(model, InputSpec::parse("ids:int64[2,64]"), o);
    EXPECT_EQ(tp.plan().blocks.size(), 4u) << tp.plan().describe();
    // The passes ran mlopt's CUDA kernels (no block was left to libtorch).
    for (std::size_t i = 0; i + 1 < tp.outcomes().size(); ++i) {
      EXPECT_TRUE(tp.outcomes()[i].missed.empty()) << tp.outcomes()[i].transform;
    }
    ASSERT_TRUE(tp.outcomes().back().verification.has_value());
    EXPECT_TRUE(tp.outcomes().back().verification->passed);
  }
}

// Ring attention with mlopt's CUDA ring (the exchange through the simulated
// ranks' copies) and sequence parallelism, each against the model.
TEST(TensorParallelCuda, RingAttentionAndSequenceParallelSimulatedOnOneGpu) {
  if (cuda_device_count() < 1) GTEST_SKIP() << "no CUDA device (or a CPU-only libtorch)";
  test::ScratchDir dir;
  const auto model = half_gpt2(dir, "fp16");
  const auto spec = InputSpec::parse("ids:int64[2,128]");
  TensorParallelOptions ring;
  ring.world_size = 2;
  ring.ring_attention = true;
  const auto r = shard_tensor_parallel(model, spec, ring);
  EXPECT_TRUE(r.plan().ring_attention);
  EXPECT_TRUE(r.outcomes().back().verification->passed);
  TensorParallelOptions sp;
  sp.world_size = 2;
  sp.sequence_parallel = true;
  const auto s = shard_tensor_parallel(model, spec, sp);
  EXPECT_EQ(s.plan().reduce_scatters, 4);
  EXPECT_TRUE(s.outcomes().back().verification->passed);
}

TEST(TensorParallelCuda, OneRankPerGpuOverNcclThroughTheOptimizer) {
  if (cuda_device_count() < 2) GTEST_SKIP() << "needs 2 GPUs, this machine has " << cuda_device_count();
  test::ScratchDir dir;
  const auto model = half_gpt2(dir, "bf16");
  const auto spec = InputSpec::parse("ids:int64[2,64]");
  Optimizer opt(model);
  const auto tp = opt.optimize({.tensor_parallel_size = 2}, spec);
  ASSERT_NE(tp.tensor_parallel_plan(), nullptr);
  const auto inputs = make_inputs(model, spec, 4);
  const auto want = flatten_outputs(forward(model, inputs)).at(0).second.to(at::kDouble);
  const auto got = flatten_outputs(tp.forward(inputs)).at(0).second.to(at::kDouble);
  EXPECT_LT(((got - want).abs().max() / want.abs().max()).item<double>(), default_tolerance(DType::BF16));
  // model() is rank 0's, on the first GPU.
  EXPECT_EQ(tp.model().options().device.index, 0);
}
