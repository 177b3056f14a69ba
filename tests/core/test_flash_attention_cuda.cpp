// mlopt::flash_attention on CUDA against its CPU kernel (ctest -L gpu): the
// binding passes shapes, strides, grouped heads and the stream correctly.
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/script.h>

#include "flash_attention_call.h"
#include "mlopt/core/ops.h"

TEST(FlashAttentionCuda, MatchesTheCpuKernel) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  ASSERT_TRUE(mlopt::ops_registered());
  for (auto dtype : {at::kHalf, at::kBFloat16}) {
    for (int64_t d : {64, 128}) {
      for (bool causal : {false, true}) {
        // BSHD storage viewed as BHSD, as models produce after a transpose.
        const auto q = torch::randn({2, 77, 8, d}).to(dtype).transpose(1, 2);
        const auto k = torch::randn({2, 130, 2, d}).to(dtype).transpose(1, 2);
        const auto v = torch::randn({2, 130, 2, d}).to(dtype).transpose(1, 2);
        const auto cpu = mlopt::test::flash_attention(q, k, v, causal).to(at::kFloat);
        const auto gpu = mlopt::test::flash_attention(q.cuda(), k.cuda(), v.cuda(), causal).cpu().to(at::kFloat);
        // Outputs are averages of N(0,1) values, |out| < ~3: a few ulps of the
        // dtype there (fp16 ulp 2e-3, bf16 1.6e-2 at 2..4).
        const double atol = dtype == at::kHalf ? 6e-3 : 4e-2;
        EXPECT_TRUE(torch::allclose(gpu, cpu, 0, atol))
            << dtype << " d=" << d << " causal=" << causal << ": " << (gpu - cpu).abs().max().item<float>();
      }
    }
  }
}

// One query token over a long cache (decode): the op takes the split-KV
// path and its workspace from the caching allocator.
TEST(FlashAttentionCuda, DecodeOverALongCacheMatchesTheCpuKernel) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  for (auto dtype : {at::kHalf, at::kBFloat16}) {
    for (int64_t q_len : {1, 3}) {
      const auto q = torch::randn({2, 8, q_len, 128}).to(dtype);
      const auto k = torch::randn({2, 2, 3001, 128}).to(dtype);
      const auto v = torch::randn({2, 2, 3001, 128}).to(dtype);
      const auto cpu = mlopt::test::flash_attention(q, k, v, true).to(at::kFloat);
      const auto gpu = mlopt::test::flash_attention(q.cuda(), k.cuda(), v.cuda(), true).cpu().to(at::kFloat);
      // Averages over 3000 keys are small (|out| < ~0.1): the fp16/bf16 ulp there is tiny.
      const double atol = dtype == at::kHalf ? 1e-3 : 4e-3;
      EXPECT_TRUE(torch::allclose(gpu, cpu, 0, atol))
          << dtype << " q_len=" << q_len << ": " << (gpu - cpu).abs().max().item<float>();
    }
  }
}

TEST(FlashAttentionCuda, UnsupportedInputsAreRefusedClearly) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto q32 = torch::randn({1, 2, 8, 64}, torch::kCUDA);
  try {
    mlopt::test::flash_attention(q32, q32, q32, false);
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("fp16 or bf16"), std::string::npos);
  }
  const auto q96 = torch::randn({1, 2, 8, 96}, torch::kCUDA).to(at::kHalf);
  try {
    mlopt::test::flash_attention(q96, q96, q96, false);
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("head dims 64 and 128"), std::string::npos);
  }
}
