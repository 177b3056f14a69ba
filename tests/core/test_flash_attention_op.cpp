// mlopt::flash_attention as a TorchScript op: registered, callable from
// TorchScript source and saved models, the CPU kernel against attention
// computed in double here, and clear errors.
#include <gtest/gtest.h>
#include <torch/script.h>

#include <cmath>

#include "flash_attention_call.h"
#include "mlopt/core/ops.h"
#include "mlopt_resolver.h"
#include "test_support.h"

namespace {

// softmax(scale * q k^T with the bottom-right causal mask) v, in double,
// k/v heads repeated for grouped-query attention.
at::Tensor naive_attention(at::Tensor q, at::Tensor k, at::Tensor v, bool causal) {
  q = q.to(at::kDouble);
  k = k.to(at::kDouble).repeat_interleave(q.size(1) / k.size(1), 1);
  v = v.to(at::kDouble).repeat_interleave(q.size(1) / v.size(1), 1);
  const auto q_len = q.size(2), kv_len = k.size(2);
  auto out = at::zeros_like(q);
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  for (int64_t i = 0; i < q_len; ++i) {
    const int64_t visible = causal ? std::min(kv_len, i + kv_len - q_len + 1) : kv_len;
    if (visible <= 0) continue;
    const auto qi = q.select(2, i).unsqueeze(2);  // [b, h, 1, d]
    const auto ks = k.narrow(2, 0, visible);
    const auto w = at::softmax(at::matmul(qi, ks.transpose(-1, -2)) * scale, -1);
    out.select(2, i).copy_(at::matmul(w, v.narrow(2, 0, visible)).squeeze(2));
  }
  return out;
}

}  // namespace

TEST(FlashAttentionOp, IsRegistered) {
  ASSERT_TRUE(mlopt::ops_registered());
  EXPECT_TRUE(c10::Dispatcher::singleton().findSchema({"mlopt::flash_attention", ""}).has_value());
}

TEST(FlashAttentionOp, CpuMatchesAttentionInDouble) {
  for (bool causal : {false, true}) {
    for (auto [q_len, kv_len] : {std::pair<int64_t, int64_t>{17, 17}, {5, 40}, {40, 5}, {1, 33}}) {
      const auto q = torch::randn({2, 4, q_len, 32});
      const auto k = torch::randn({2, 2, kv_len, 32});  // grouped-query: 2 kv heads for 4
      const auto v = torch::randn({2, 2, kv_len, 32});
      const auto ours = mlopt::test::flash_attention(q, k, v, causal);
      const auto ref = naive_attention(q, k, v, causal).to(at::kFloat);
      EXPECT_TRUE(torch::allclose(ours, ref, 1e-5, 1e-5))
          << "causal " << causal << " " << q_len << "x" << kv_len << ": " << (ours - ref).abs().max().item<float>();
    }
  }
}

TEST(FlashAttentionOp, RowsThatSeeNoKeyAreZero) {
  // Causal with more queries than keys: the first q_len - kv_len rows see nothing.
  const auto out = mlopt::test::flash_attention(torch::randn({1, 2, 6, 8}), torch::randn({1, 2, 2, 8}),
                                                torch::randn({1, 2, 2, 8}), true);
  EXPECT_TRUE(out.narrow(2, 0, 4).eq(0).all().item<bool>());
  EXPECT_FALSE(out.narrow(2, 4, 2).eq(0).all().item<bool>());
}

TEST(FlashAttentionOp, CallableFromTorchScriptAndSavedModels) {
  mlopt::test::ScratchDir dir;
  torch::jit::Module m("__torch__.AttentionUser");
  m.define(R"(
def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    return mlopt.flash_attention(q, k, v, True)
)",
           std::make_shared<mlopt::test::MloptResolver>());
  m.save((dir / "m.pt").string());
  auto loaded = torch::jit::load((dir / "m.pt").string());
  const auto q = torch::randn({1, 2, 9, 16}), k = torch::randn({1, 2, 9, 16}), v = torch::randn({1, 2, 9, 16});
  const auto out = loaded.forward({q, k, v}).toTensor();
  EXPECT_TRUE(torch::allclose(out, naive_attention(q, k, v, true).to(at::kFloat), 1e-5, 1e-5));
}

TEST(FlashAttentionOp, BadArgumentsNameTheOpAndTheProblem) {
  const auto q = torch::randn({1, 4, 8, 16});
  auto message = [&](const at::Tensor& qq, const at::Tensor& kk, const at::Tensor& vv) -> std::string {
    try {
      mlopt::test::flash_attention(qq, kk, vv, false);
    } catch (const c10::Error& e) {
      return e.what_without_backtrace();
    }
    return "accepted";
  };
  EXPECT_NE(message(q, torch::randn({1, 3, 8, 16}), torch::randn({1, 3, 8, 16})).find("must divide"),
            std::string::npos);
  EXPECT_NE(message(q, torch::randn({1, 4, 8, 8}), torch::randn({1, 4, 8, 8})).find("head dims"), std::string::npos);
  EXPECT_NE(message(q.flatten(0, 1), q, q).find("[batch, heads, seq, head_dim]"), std::string::npos);
  EXPECT_NE(message(q, q, torch::randn({1, 4, 9, 16})).find("same shape"), std::string::npos);
  EXPECT_NE(message(q, q.to(at::kDouble), q).find("one dtype"), std::string::npos);
}
