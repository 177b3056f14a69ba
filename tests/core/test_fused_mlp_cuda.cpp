// mlopt::fused_mlp on CUDA against its CPU kernel (ctest -L gpu): the
// binding passes shapes, layouts, optional tensors, views and the stream
// correctly.
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/script.h>

#include <string>

#include "fused_mlp_call.h"
#include "mlopt/core/ops.h"

namespace {

using mlopt::test::MlpCall;

// GPT-2 (Conv1D, biases, gelu_tanh, residual), Llama (Linear, SwiGLU, no
// biases) and GeGLU (interleaved, erf GELU, biases) on x of `shape`.
std::vector<std::pair<std::string, MlpCall>> calls(at::IntArrayRef shape, at::ScalarType dtype) {
  const int64_t d = shape.back(), f = 256;
  const auto r = [&](at::IntArrayRef s, double scale) { return (torch::randn(s) * scale).to(dtype); };
  std::vector<std::pair<std::string, MlpCall>> out;
  out.push_back({"gpt2", MlpCall{r(shape, 1), r({d, f}, 0.125), r({f}, 0.5), r({f, d}, 0.0625), r({d}, 0.5),
                                 "gelu_tanh", false, "in_out", r(shape, 1), "concatenated"}});
  out.push_back({"llama", MlpCall{r(shape, 1), r({2 * f, d}, 0.125), std::nullopt, r({d, f}, 0.0625), std::nullopt,
                                  "silu", true, "out_in", std::nullopt, "concatenated"}});
  out.push_back({"geglu", MlpCall{r(shape, 1), r({2 * f, d}, 0.125), r({2 * f}, 0.5), r({d, f}, 0.0625), r({d}, 0.5),
                                  "gelu", true, "out_in", r(shape, 1), "interleaved"}});
  return out;
}

}  // namespace

TEST(FusedMlpCuda, MatchesTheCpuKernel) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  ASSERT_TRUE(mlopt::ops_registered());
  for (auto dtype : {at::kHalf, at::kBFloat16}) {
    for (const auto& shape : {std::vector<int64_t>{1, 1, 64}, std::vector<int64_t>{2, 37, 64},
                              std::vector<int64_t>{300, 64}}) {
      for (const auto& [name, call] : calls(shape, dtype)) {
        const auto cpu = mlopt::test::fused_mlp(call).to(at::kFloat);
        const auto gpu = mlopt::test::fused_mlp(mlopt::test::on(call, at::kCUDA));
        EXPECT_EQ(gpu.sizes(), call.x.sizes());
        EXPECT_EQ(gpu.scalar_type(), dtype);
        // |out| < ~8: a couple of ulps of the output there (fp16 4e-3, bf16 3e-2 at 4..8).
        const double atol = dtype == at::kHalf ? 1e-2 : 8e-2;
        const auto g = gpu.cpu().to(at::kFloat);
        EXPECT_TRUE(torch::allclose(g, cpu, 0, atol))
            << name << " " << dtype << " " << at::IntArrayRef(shape) << ": " << (g - cpu).abs().max().item<float>();
      }
    }
  }
}

TEST(FusedMlpCuda, ViewsAndMisalignedStartsAreCopied) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const int64_t t = 19, d = 64, f = 128;
  MlpCall c{torch::randn({t, d}), torch::randn({2 * f, d}) / 8, std::nullopt, torch::randn({d, f}) / 16,
            torch::randn({d}),    "silu",                        true,        "out_in",
            std::nullopt,         "concatenated"};
  c = mlopt::test::on(c, at::kCUDA);
  c.x = c.x.to(at::kHalf);
  c.w_up = c.w_up.to(at::kHalf);
  c.w_down = c.w_down.to(at::kHalf);
  c.b_down = c.b_down->to(at::kHalf);
  const auto expected = mlopt::test::fused_mlp(c).cpu().to(at::kFloat);
  // x starting one element into its storage (2-byte aligned), and w_down transposed twice (a strided view).
  const auto storage = torch::zeros({t * d + 1}, c.x.options());
  storage.narrow(0, 1, t * d).copy_(c.x.flatten());
  MlpCall v = c;
  v.x = storage.narrow(0, 1, t * d).view({t, d});
  v.w_down = c.w_down.t().contiguous().t();
  const auto got = mlopt::test::fused_mlp(v).cpu().to(at::kFloat);
  EXPECT_TRUE(torch::equal(got, expected)) << (got - expected).abs().max().item<float>();
}

TEST(FusedMlpCuda, UnsupportedInputsAreRefusedClearly) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto message = [](const MlpCall& c) -> std::string {
    try {
      mlopt::test::fused_mlp(c);
    } catch (const c10::Error& e) {
      return e.what_without_backtrace();
    }
    return "accepted";
  };
  const auto o = torch::TensorOptions().device(at::kCUDA);
  MlpCall fp32{torch::randn({2, 64}, o), torch::randn({128, 64}, o), std::nullopt, torch::randn({64, 128}, o),
               std::nullopt,            "relu",                      false,        "out_in",
               std::nullopt,            "concatenated"};
  EXPECT_NE(message(fp32).find("fp16 or bf16"), std::string::npos) << message(fp32);
  const auto h = o.dtype(at::kHalf);
  MlpCall odd{torch::randn({2, 12}, h), torch::randn({32, 12}, h), std::nullopt, torch::randn({12, 32}, h),
              std::nullopt,            "relu",                    false,        "out_in",
              std::nullopt,            "concatenated"};
  EXPECT_NE(message(odd).find("multiple of 8"), std::string::npos) << message(odd);
}
