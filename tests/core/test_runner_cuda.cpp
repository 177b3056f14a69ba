// The runner on a GPU (ctest -L gpu on the GPU machine; skipped elsewhere).
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "mlopt/core/error.h"
#include "mlopt/core/runner.h"
#include "mlopt/core/sample_models.h"
#include "mlopt/core/torch_bridge.h"
#include "test_support.h"

using namespace mlopt;

// A macro, not a function: GTEST_SKIP returns from the test body itself.
#define REQUIRE_GPU()                                                                   \
  do {                                                                                  \
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device (or a CPU-only libtorch)"; \
  } while (0)

TEST(RunnerCuda, TimesWithCudaEventsInEachDtype) {
  REQUIRE_GPU();
  for (const char* dtype : {"fp32", "fp16", "bf16"}) {
    LoadOptions options;
    options.device = parse_device("cuda");
    options.dtype = parse_dtype(dtype);
    const auto model = Model::load(test::tiny_gpt2(), options);
    const auto result = run(model, InputSpec::parse("ids:int64[4,64]"), {.warmup = 2, .iterations = 5});
    EXPECT_EQ(result.timer, "cuda-events");
    EXPECT_NE(result.device_name.find("NVIDIA"), std::string::npos) << result.device_name;
    ASSERT_EQ(result.samples_ms.size(), 5u);
    for (double s : result.samples_ms) EXPECT_GT(s, 0);
    EXPECT_EQ(result.outputs[0].dtype, parse_dtype(dtype));
    EXPECT_TRUE(result.outputs[0].all_finite);
    // The peak holds at least the weights and one forward's logits, and
    // less than the GPU has.
    ASSERT_TRUE(result.peak_memory_bytes.has_value()) << dtype;
    const int64_t logits = int64_t{4} * 64 * samples::gpt2_preset("tiny").vocab * element_size(parse_dtype(dtype));
    EXPECT_GE(*result.peak_memory_bytes, logits + model.info().root.total_bytes) << dtype;
    EXPECT_LT(*result.peak_memory_bytes, int64_t{1} << 40) << dtype;
  }
}

TEST(RunnerCuda, MatchesTheCpuResult) {
  REQUIRE_GPU();
  LoadOptions gpu;
  gpu.device = parse_device("cuda");
  const auto cpu_model = Model::load(test::tiny_llama());
  const auto gpu_model = Model::load(test::tiny_llama(), gpu);
  const auto spec = InputSpec::parse("ids:int64[2,33]");
  const auto cpu_out = flatten_outputs(forward(cpu_model, make_inputs(cpu_model, spec, 9)))[0].second;
  const auto gpu_out = flatten_outputs(forward(gpu_model, make_inputs(gpu_model, spec, 9)))[0].second.cpu();
  // fp32 on both; the GPU may use TF32-free cuBLAS paths with other summation orders.
  EXPECT_TRUE(torch::allclose(cpu_out, gpu_out, 1e-3, 1e-3)) << (cpu_out - gpu_out).abs().max().item<float>();
}

TEST(RunnerCuda, AnalyzeOnTheGpu) {
  REQUIRE_GPU();
  LoadOptions gpu;
  gpu.device = parse_device("cuda");
  gpu.dtype = DType::F16;
  const auto info = Model::load(test::tiny_gpt2(), gpu).analyze(InputSpec::parse("ids:int64[1,17]"));
  bool found = false;
  for (const auto& n : info.nodes) {
    if (n.kind == "aten::softmax" && n.outputs[0].dtype) {
      EXPECT_EQ(*n.outputs[0].dtype, DType::F16);
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST(RunnerCuda, OutOfMemoryIsReportedAndRecoverable) {
  REQUIRE_GPU();
  LoadOptions gpu;
  gpu.device = parse_device("cuda");
  const auto model = Model::load(test::tiny_gpt2(), gpu);
  // 2^19 sequences of 128 tokens: the attention scores alone would need
  // 2^19 x 4 heads x 128 x 128 x 4 bytes = 128 GiB.
  try {
    run(model, InputSpec::parse("ids:int64[524288,128]"), {.warmup = 0, .iterations = 1});
    FAIL() << "no out-of-memory error";
  } catch (const OutOfMemoryError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("out of memory"), std::string::npos) << msg;
    EXPECT_NE(msg.find("smaller batch"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("frame #"), std::string::npos) << msg;
  }
  // The process and the device stay usable.
  const auto result = run(model, InputSpec::parse("ids:int64[2,16]"), {.warmup = 1, .iterations = 2});
  EXPECT_TRUE(result.outputs[0].all_finite);
}
