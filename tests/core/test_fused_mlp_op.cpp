// mlopt::fused_mlp as a TorchScript op: registered, callable from
// TorchScript source and saved models, the CPU kernel against the MLP
// written out here in double (activation formulas spelled out, no ATen
// activation ops), GPT-2 and Llama arrangements, and clear errors.
#include <gtest/gtest.h>
#include <torch/script.h>

#include <cmath>
#include <string>

#include "fused_mlp_call.h"
#include "mlopt/core/ops.h"
#include "mlopt_resolver.h"
#include "test_support.h"

namespace {

using mlopt::test::MlpCall;

at::Tensor act(const at::Tensor& t, const std::string& name) {
  const double pi = 3.14159265358979323846;
  if (name == "none") return t;
  if (name == "relu") return t.clamp_min(0);
  if (name == "gelu") return 0.5 * t * (1 + (t / std::sqrt(2.0)).erf());
  if (name == "gelu_tanh") return 0.5 * t * (1 + (std::sqrt(2.0 / pi) * (t + 0.044715 * t.pow(3))).tanh());
  if (name == "silu") return t / (1 + (-t).exp());
  ADD_FAILURE() << "no formula for " << name;
  return t;
}

// The MLP in double from [out, in] weights; gate and up given separately.
at::Tensor naive_mlp(const at::Tensor& x, const at::Tensor& w_gate, const at::Tensor& w_up, const at::Tensor& b_up,
                     const at::Tensor& w_down, const at::Tensor& b_down, const std::string& activation, bool gated,
                     const at::Tensor& residual) {
  const auto d = [](const at::Tensor& t) { return t.defined() ? t.to(at::kDouble) : t; };
  const auto x2 = d(x).reshape({-1, x.size(-1)});
  auto up = at::matmul(x2, d(w_up).t());
  if (b_up.defined()) up = up + d(b_up).narrow(0, gated ? b_up.size(0) / 2 : 0, up.size(1));
  at::Tensor h;
  if (gated) {
    auto gate = at::matmul(x2, d(w_gate).t());
    if (b_up.defined()) gate = gate + d(b_up).narrow(0, 0, gate.size(1));
    h = act(gate, activation) * up;
  } else {
    h = act(up, activation);
  }
  auto out = at::matmul(h, d(w_down).t());
  if (b_down.defined()) out = out + d(b_down);
  if (residual.defined()) out = out + d(residual).reshape(out.sizes());
  return out.reshape(x.sizes());
}

void expect_close(const at::Tensor& ours, const at::Tensor& ref, double tol, const std::string& what) {
  EXPECT_TRUE(torch::allclose(ours.to(at::kDouble), ref, tol, tol))
      << what << ": max error " << (ours.to(at::kDouble) - ref).abs().max().item<double>();
}

}  // namespace

TEST(FusedMlpOp, IsRegistered) {
  ASSERT_TRUE(mlopt::ops_registered());
  EXPECT_TRUE(c10::Dispatcher::singleton().findSchema({"mlopt::fused_mlp", ""}).has_value());
}

TEST(FusedMlpOp, CpuMatchesTheMlpInDoubleForEveryVariant) {
  const int64_t d = 16, f = 40;
  for (const char* activation : {"none", "relu", "gelu", "gelu_tanh", "silu"})
    for (bool gated : {false, true})
      for (bool in_out : {false, true})
        for (bool interleaved : {false, true}) {
          if (interleaved && !gated) continue;
          const auto x = torch::randn({2, 5, d});
          const auto w_gate = torch::randn({f, d}) / 4, w_up = torch::randn({f, d}) / 4;
          const auto b_gate = torch::randn({f}), b_up = torch::randn({f});
          const auto w_down = torch::randn({d, f}) / 6, b_down = torch::randn({d});
          const auto residual = torch::randn({2, 5, d});
          // Pack gate and up into one weight [2f, d] ([out, in]).
          at::Tensor packed_w = w_up, packed_b = b_up;
          if (gated) {
            packed_w = interleaved ? torch::stack({w_gate, w_up}, 1).reshape({2 * f, d}) : torch::cat({w_gate, w_up});
            packed_b = interleaved ? torch::stack({b_gate, b_up}, 1).reshape({2 * f}) : torch::cat({b_gate, b_up});
          }
          MlpCall c;
          c.x = x;
          c.w_up = in_out ? packed_w.t().contiguous() : packed_w;
          c.b_up = packed_b;
          c.w_down = in_out ? w_down.t().contiguous() : w_down;
          c.b_down = b_down;
          c.activation = activation;
          c.gated = gated;
          c.layout = in_out ? "in_out" : "out_in";
          c.residual = residual;
          c.gate_up = interleaved ? "interleaved" : "concatenated";
          const auto ours = mlopt::test::fused_mlp(c);
          EXPECT_EQ(ours.sizes(), x.sizes());
          EXPECT_EQ(ours.scalar_type(), at::kFloat);
          const auto ref = naive_mlp(x, w_gate, w_up, gated ? torch::cat({b_gate, b_up}) : b_up, w_down, b_down,
                                     activation, gated, residual);
          expect_close(ours, ref, 1e-4,
                       std::string(activation) + (gated ? " gated" : "") + (in_out ? " in_out" : " out_in") +
                           (interleaved ? " interleaved" : ""));
        }
}

TEST(FusedMlpOp, Gpt2AndLlamaArrangements) {
  // GPT-2: Conv1D weights [in, out], biases, gelu_tanh, the residual fused.
  const int64_t d = 32, f = 128;
  const auto x = torch::randn({3, 7, d});
  const auto c_fc = torch::randn({d, f}) / 5, c_fc_b = torch::randn({f}) / 5;
  const auto c_proj = torch::randn({f, d}) / 10, c_proj_b = torch::randn({d}) / 5;
  const auto res = torch::randn({3, 7, d});
  MlpCall gpt2{x, c_fc, c_fc_b, c_proj, c_proj_b, "gelu_tanh", false, "in_out", res, "concatenated"};
  expect_close(mlopt::test::fused_mlp(gpt2),
               naive_mlp(x, {}, c_fc.t(), c_fc_b, c_proj.t(), c_proj_b, "gelu_tanh", false, res), 1e-5, "gpt2");
  // Llama: nn.Linear weights, no biases, SwiGLU from gate_proj and up_proj concatenated.
  const auto gate_proj = torch::randn({f, d}) / 5, up_proj = torch::randn({f, d}) / 5;
  const auto down_proj = torch::randn({d, f}) / 10;
  MlpCall llama{x, torch::cat({gate_proj, up_proj}), std::nullopt, down_proj, std::nullopt, "silu", true, "out_in",
                std::nullopt, "concatenated"};
  expect_close(mlopt::test::fused_mlp(llama), naive_mlp(x, gate_proj, up_proj, {}, down_proj, {}, "silu", true, {}),
               1e-5, "llama");
}

TEST(FusedMlpOp, HalfInputsKeepTheirDtypeAndRoundTheIntermediate) {
  const int64_t d = 16, f = 64;
  const auto x = torch::randn({4, d});
  const auto w_up = torch::randn({2 * f, d}) / 4, w_down = torch::randn({d, f}) / 8;
  for (auto dtype : {at::kBFloat16, at::kHalf}) {
    MlpCall c{x.to(dtype), w_up.to(dtype), std::nullopt, w_down.to(dtype), std::nullopt, "silu", true, "out_in",
              std::nullopt, "concatenated"};
    const auto ours = mlopt::test::fused_mlp(c);
    EXPECT_EQ(ours.scalar_type(), dtype);
    // h rounded to the dtype, everything else in double: the op's arithmetic.
    const auto xd = x.to(dtype).to(at::kDouble), wd = w_up.to(dtype).to(at::kDouble);
    const auto gate = at::matmul(xd, wd.narrow(0, 0, f).t()), up = at::matmul(xd, wd.narrow(0, f, f).t());
    const auto h = (act(gate, "silu") * up).to(dtype).to(at::kDouble);
    const auto ref = at::matmul(h, w_down.to(dtype).to(at::kDouble).t());
    // One rounding of the output (fp16: 2^-11, bf16: 2^-8 relative) and fp32 sums.
    const double tol = dtype == at::kHalf ? 2e-3 : 1e-2;
    EXPECT_TRUE(torch::allclose(ours.to(at::kDouble), ref, tol, tol))
        << dtype << ": " << (ours.to(at::kDouble) - ref).abs().max().item<double>();
  }
}

TEST(FusedMlpOp, NoTokensGiveAnEmptyResult) {
  MlpCall c{torch::randn({0, 8}), torch::randn({16, 8}), std::nullopt, torch::randn({8, 16}), std::nullopt,
            "relu",               false,                "out_in",     std::nullopt,          "concatenated"};
  const auto out = mlopt::test::fused_mlp(c);
  EXPECT_EQ(out.sizes(), (at::IntArrayRef{0, 8}));
}

TEST(FusedMlpOp, CallableFromTorchScriptAndSavedModels) {
  mlopt::test::ScratchDir dir;
  torch::jit::Module m("__torch__.MlpUser");
  m.define(R"(
def forward(self, x: Tensor, w_up: Tensor, w_down: Tensor) -> Tensor:
    return mlopt.fused_mlp(x, w_up, None, w_down, None, "silu", True, residual=x)
)",
           std::make_shared<mlopt::test::MloptResolver>());
  m.save((dir / "m.pt").string());
  auto loaded = torch::jit::load((dir / "m.pt").string());
  const auto x = torch::randn({2, 3, 8});
  const auto w_gate = torch::randn({24, 8}) / 3, w_up = torch::randn({24, 8}) / 3, w_down = torch::randn({8, 24}) / 5;
  const auto out = loaded.forward({x, torch::cat({w_gate, w_up}), w_down}).toTensor();
  expect_close(out, naive_mlp(x, w_gate, w_up, {}, w_down, {}, "silu", true, x), 1e-5, "saved model");
}

TEST(FusedMlpOp, BadArgumentsNameTheOpAndTheProblem) {
  const MlpCall good{torch::randn({2, 8}), torch::randn({32, 8}), torch::randn({32}), torch::randn({8, 16}),
                     torch::randn({8}),    "silu",                true,               "out_in",
                     torch::randn({2, 8}), "concatenated"};
  ASSERT_NO_THROW(mlopt::test::fused_mlp(good));
  auto message = [](const MlpCall& c) -> std::string {
    try {
      mlopt::test::fused_mlp(c);
    } catch (const c10::Error& e) {
      return e.what_without_backtrace();
    }
    return "accepted";
  };
  auto expect = [&](MlpCall c, const std::string& fragment) {
    const std::string m = message(c);
    EXPECT_NE(m.find(fragment), std::string::npos) << "expected '" << fragment << "' in: " << m;
    EXPECT_NE(m.find("mlopt::fused_mlp"), std::string::npos) << m;
  };
  MlpCall c = good;
  c.activation = "swish";
  expect(c, "unknown activation 'swish'");
  c = good;
  c.layout = "transposed";
  expect(c, "unknown layout 'transposed'");
  c = good;
  c.gate_up = "zipped";
  expect(c, "unknown gate_up packing 'zipped'");
  c = good;
  c.w_up = torch::randn({32, 9});
  expect(c, "does not take x's d_model 8");
  c = good;
  c.w_up = torch::randn({33, 8});
  c.b_up = std::nullopt;
  expect(c, "gated w_up holds gate and up weights");
  c = good;
  c.w_down = torch::randn({16, 8});
  expect(c, "w_down must be [8, 16] ([out, in]) for d_ff 16");
  c = good;
  c.b_up = torch::randn({16});
  expect(c, "b_up must be [32]");
  c = good;
  c.b_down = torch::randn({16});
  expect(c, "b_down must be [8]");
  c = good;
  c.residual = torch::randn({3, 8});
  expect(c, "must have x's shape");
  c = good;
  c.w_down = c.w_down.to(at::kDouble);
  expect(c, "must have x's dtype");
  c = good;
  c.w_up = torch::randn({32});
  expect(c, "w_up must be a matrix");
}
