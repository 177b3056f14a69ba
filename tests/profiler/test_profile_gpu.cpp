// The real CUPTI path on the gpt2 sample at 8 x 1024 tokens (ctest -L gpu;
// skipped without a GPU): every op that computes launches kernels, kernels
// are traced to their ops, nothing is dropped, the overhead stays small.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <nlohmann/json.hpp>

#include "mlopt/core/sample_models.h"
#include "mlopt/profiler/chrome_trace.h"
#include "mlopt/profiler/profiler.h"
#include "test_support.h"

using namespace mlopt;
using namespace mlopt::profiler;

TEST(ProfileGpu, Gpt2At8x1024Tokens) {
  if (!torch::cuda::is_available() || !cupti_available()) GTEST_SKIP() << "needs a CUDA device and CUPTI";
  test::ScratchDir dir;
  samples::write_gpt2(samples::gpt2_preset("gpt2"), dir / "gpt2.pt");
  LoadOptions load;
  load.device = parse_device("cuda");
  load.dtype = DType::F16;
  const auto model = Model::load(dir / "gpt2.pt", load);
  CeilingsCache cache(dir / "ceilings.json");
  ProfileOptions options;
  options.warmup = 3;
  options.iterations = 5;
  options.cache = &cache;
  const auto r = profile(model, InputSpec::parse("ids:int64[8,1024]"), options);

  EXPECT_EQ(r.dropped_records, 0);
  EXPECT_GE(r.correlated_kernel_share, 0.99);
  EXPECT_DOUBLE_EQ(r.attributed_op_share, 1.0);
  EXPECT_LT(r.overhead, 0.10);
  int kernels = 0;
  for (const auto& o : r.ops) {
    if (o.cost.flops > 0) {
      EXPECT_GE(o.kernels, 1) << o.name << " in " << o.module_path;
    }
    kernels += o.kernels;
  }
  EXPECT_GT(kernels, 12 * 10);  // at least ten kernels per block

  double total = 0;
  for (const auto& c : r.categories) total += c.time_us;
  EXPECT_NEAR(total, r.mean_iteration_us, 1e-6 * r.mean_iteration_us);
  EXPECT_GT(r.gpu_busy_us, 0.5 * r.mean_iteration_us);  // 8 x 1024 keeps the GPU busy
  EXPECT_GT(r.peak_memory_bytes, 124'000'000LL * 2);     // at least the fp16 weights
  EXPECT_GT(r.ceilings.matmul_tflops, 50);
  EXPECT_GT(r.ceilings.copy_gbps, 500);

  const auto trace = nlohmann::json::parse(chrome_trace_json(r));
  int flows = 0, gpu_slices = 0;
  for (const auto& e : trace["traceEvents"]) {
    if (e["ph"] == "s") ++flows;
    const std::string cat = e.value("cat", "");
    if (e["ph"] == "X" && (cat == "kernel" || cat == "gpu_memcpy" || cat == "gpu_memset")) ++gpu_slices;
  }
  // The last iteration's GPU work (kernels, copies, memsets) is all in the
  // trace, each with its arrow from the op.
  EXPECT_GE(gpu_slices, kernels);
  EXPECT_GE(flows, kernels);
}
