// The attention and MLP graph passes, verification and rollback, and saving
// an optimized model, on the CPU (where mlopt's ops run their references).
#include <gtest/gtest.h>
#include <torch/script.h>

#include <algorithm>

#include "mlopt/core/error.h"
#include "mlopt/core/model.h"
#include "mlopt/core/sample_models.h"
#include "mlopt/core/torch_bridge.h"
#include "mlopt/core/transforms.h"
#include "model_from_source.h"
#include "test_support.h"

namespace {

using mlopt::test::model_from_source;

using mlopt::InputSpec;
using mlopt::Model;
using mlopt::TransformOptions;
using mlopt::TransformOutcome;

int count_nodes(const Model& model, const std::string& kind) {
  const auto& nodes = model.info().nodes;
  return static_cast<int>(std::count_if(nodes.begin(), nodes.end(), [&](const auto& n) { return n.kind == kind; }));
}

TransformOptions both() {
  TransformOptions o;
  o.flash_attention = true;
  o.fused_mlp = true;
  return o;
}

TransformOptions attention_only() {
  TransformOptions o;
  o.flash_attention = true;
  return o;
}

TransformOptions mlp_only() {
  TransformOptions o;
  o.fused_mlp = true;
  return o;
}

std::string misses(const TransformOutcome& o) {
  std::string s;
  for (const auto& m : o.missed) s += m.module + " " + m.op + ": " + m.reason + "\n";
  return s;
}


TEST(TransformsGpt2, BothPassesMatchEveryLayerAndVerify) {
  const auto model = Model::load(mlopt::test::tiny_gpt2());
  const auto spec = InputSpec::parse("ids:int64[2,16]");
  const auto result = mlopt::apply_transforms(model, spec, both());
  ASSERT_EQ(result.outcomes.size(), 2u);
  const auto& attention = result.outcomes[0];
  EXPECT_EQ(attention.transform, "flash_attention");
  ASSERT_EQ(attention.matched.size(), 2u) << misses(attention);
  EXPECT_EQ(attention.matched[0].module, "transformer.h.0.attn");
  EXPECT_NE(attention.matched[0].detail.find("causal, scale 0.25"), std::string::npos) << attention.matched[0].detail;
  EXPECT_TRUE(attention.missed.empty()) << misses(attention);
  ASSERT_TRUE(attention.verification.has_value());
  EXPECT_TRUE(attention.verification->passed);
  EXPECT_TRUE(attention.applied);
  EXPECT_LT(attention.verification->outputs.at(0).error, 1e-5);

  const auto& mlp = result.outcomes[1];
  ASSERT_EQ(mlp.matched.size(), 2u) << misses(mlp);
  EXPECT_EQ(mlp.matched[1].module, "transformer.h.1.mlp");
  EXPECT_NE(mlp.matched[0].detail.find("gelu_tanh"), std::string::npos) << mlp.matched[0].detail;
  EXPECT_NE(mlp.matched[0].detail.find("Conv1D"), std::string::npos);
  EXPECT_NE(mlp.matched[0].detail.find("residual fused"), std::string::npos);
  EXPECT_TRUE(mlp.applied);

  EXPECT_EQ(count_nodes(result.model, "mlopt::flash_attention"), 2);
  EXPECT_EQ(count_nodes(result.model, "mlopt::fused_mlp"), 2);
  EXPECT_EQ(count_nodes(result.model, "aten::softmax"), 0);
  EXPECT_EQ(count_nodes(result.model, "aten::tanh"), 0);
  // The original is untouched.
  EXPECT_EQ(count_nodes(model, "aten::softmax"), 2);
}

TEST(TransformsLlama, GroupedQueryAttentionAndSwiGlu) {
  const auto config = mlopt::test::tiny_gqa_llama_config();
  const auto model = Model::load(mlopt::test::tiny_gqa_llama());
  const auto result = mlopt::apply_transforms(model, InputSpec::parse("ids:int64[2,12]"), both());
  const auto& attention = result.outcomes[0];
  ASSERT_EQ(attention.matched.size(), static_cast<std::size_t>(config.layers)) << misses(attention);
  EXPECT_NE(attention.matched[0].detail.find("GQA (k/v shared by 2 query heads)"), std::string::npos)
      << attention.matched[0].detail;
  EXPECT_TRUE(attention.applied);
  const auto& mlp = result.outcomes[1];
  ASSERT_EQ(mlp.matched.size(), static_cast<std::size_t>(config.layers)) << misses(mlp);
  EXPECT_NE(mlp.matched[0].detail.find("SwiGLU"), std::string::npos) << mlp.matched[0].detail;
  EXPECT_TRUE(mlp.applied);
  // The repeat of k/v to the query heads is gone with the attention block.
  EXPECT_EQ(count_nodes(result.model, "aten::expand"), 0);
  EXPECT_EQ(count_nodes(result.model, "aten::silu"), 0);
}

TEST(TransformsSdpa, ScaledDotProductAttentionIsReplaced) {
  if (!mlopt::samples::libtorch_has_sdpa()) GTEST_SKIP() << "this libtorch has no aten::scaled_dot_product_attention";
  mlopt::test::ScratchDir dir;
  auto config = mlopt::samples::gpt2_preset("tiny");
  config.sdpa = true;
  const auto file = dir / "gpt2-sdpa.pt";
  mlopt::samples::write_gpt2(config, file);
  const auto result = mlopt::apply_transforms(Model::load(file), InputSpec::parse("ids:int64[1,16]"), attention_only());
  ASSERT_EQ(result.outcomes[0].matched.size(), 2u) << misses(result.outcomes[0]);
  EXPECT_TRUE(result.outcomes[0].applied);
}

// Attention written the other ways real models do.
struct AttentionForm {
  const char* name;
  std::string body;  // computes `a` from q, k, v [B, H, T, D] (T = x.size(2))
  bool causal;
};

class AttentionForms : public testing::TestWithParam<AttentionForm> {};

TEST_P(AttentionForms, Matched) {
  mlopt::test::ScratchDir dir;
  const int64_t P = 32;
  const auto ones = torch::ones({P, P}, torch::kBool);
  const auto source =
      "def forward(self, q, k, v):\n"
      "    T = q.size(2)\n" +
      GetParam().body + "    return a\n";
  const auto model = model_from_source(
      dir, source,
      {{"keep", ones.tril().view({1, 1, P, P})},
       {"upper", ones.triu(1)},
       {"additive", torch::full({P, P}, -std::numeric_limits<float>::infinity()).triu(1)}});
  const auto spec = InputSpec::parse("q:float32[2,4,9,16]; k:float32[2,4,9,16]; v:float32[2,4,9,16]");
  const auto result = mlopt::apply_transforms(model, spec, attention_only());
  const auto& o = result.outcomes[0];
  ASSERT_EQ(o.matched.size(), 1u) << misses(o);
  EXPECT_EQ(o.matched[0].detail.rfind(GetParam().causal ? "causal" : "non-causal", 0), 0u) << o.matched[0].detail;
  ASSERT_TRUE(o.verification.has_value());
  EXPECT_TRUE(o.verification->passed) << o.note;
  EXPECT_EQ(count_nodes(result.model, "aten::softmax"), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, AttentionForms,
    testing::Values(
        AttentionForm{"MulScaleNoMask",
                      "    a = torch.matmul(torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * 0.25, dim=-1), v)\n",
                      false},
        AttentionForm{"ScaledQueryPermutedKey",
                      "    a = torch.matmul(torch.softmax(torch.matmul(q / 4.0, k.permute(0, 1, 3, 2)), dim=-1), v)\n",
                      false},
        AttentionForm{"WhereKeepMask",
                      "    w = torch.matmul(q, k.transpose(2, 3)) / 4.0\n"
                      "    m = self.keep[:, :, 0:T, 0:T]\n"
                      "    w = torch.where(m, w, -1e9)\n"
                      "    a = torch.matmul(torch.softmax(w, dim=-1), v)\n",
                      true},
        AttentionForm{"BottomRightSliceAsHfGpt2",
                      "    w = torch.matmul(q, k.transpose(-1, -2)) / 4.0\n"
                      "    L = k.size(2)\n"
                      "    m = self.keep[:, :, L - T:L, :L]\n"
                      "    w = w.masked_fill(m == 0, float('-inf'))\n"
                      "    a = torch.matmul(torch.softmax(w, dim=-1), v)\n",
                      true},
        AttentionForm{"UpperFillBuffer",
                      "    w = torch.matmul(q, k.transpose(-1, -2)) / 4.0\n"
                      "    w = w.masked_fill(self.upper[0:T, 0:T], float('-inf'))\n"
                      "    a = torch.matmul(torch.softmax(w, dim=-1), v)\n",
                      true},
        AttentionForm{"AdditiveBuffer",
                      "    w = torch.matmul(q, k.transpose(-1, -2)) / 4.0 + self.additive[0:T, 0:T]\n"
                      "    a = torch.matmul(torch.softmax(w.float(), dim=-1).to(q.dtype), v)\n",
                      true},
        AttentionForm{"RepeatInterleaveGqa",
                      "    kk = k[:, 0:2].repeat_interleave(2, dim=1)\n"
                      "    vv = v[:, 0:2].repeat_interleave(2, dim=1)\n"
                      "    a = torch.matmul(torch.softmax(torch.matmul(q, kk.transpose(-1, -2)) / 4.0, dim=-1), vv)\n",
                      false}),
    [](const auto& info) { return std::string(info.param.name); });

// Forms that must not be replaced, each with the reason the pass gives.
struct NotAttention {
  const char* name;
  std::string body;
  std::string reason;  // a part of PassMiss::reason
};

class AttentionNegatives : public testing::TestWithParam<NotAttention> {};

TEST_P(AttentionNegatives, LeftAloneWithReason) {
  mlopt::test::ScratchDir dir;
  const int64_t P = 32;
  const auto ones = torch::ones({P, P}, torch::kBool);
  const auto source = "def forward(self, q, k, v, pad):\n    T = q.size(2)\n" + GetParam().body;
  const auto model = model_from_source(dir, source,
                                       {{"keep", ones.tril()}, {"window", ones.tril().logical_and(ones.triu(-2))}});
  const auto spec = InputSpec::parse(
      "q:float32[2,4,9,16]; k:float32[2,4,9,16]; v:float32[2,4,9,16]; pad:float32[2,1,9,9]");
  const auto result = mlopt::apply_transforms(model, spec, attention_only());
  const auto& o = result.outcomes[0];
  EXPECT_TRUE(o.matched.empty());
  EXPECT_FALSE(o.applied);
  EXPECT_EQ(o.note, "nothing matched");
  ASSERT_EQ(o.missed.size(), 1u);
  EXPECT_EQ(o.missed[0].op, "aten::softmax");
  EXPECT_NE(o.missed[0].reason.find(GetParam().reason), std::string::npos) << o.missed[0].reason;
}

INSTANTIATE_TEST_SUITE_P(
    Forms, AttentionNegatives,
    testing::Values(
        NotAttention{"PaddingMaskFromInput",
                     "    w = torch.matmul(q, k.transpose(-1, -2)) + pad\n"
                     "    return torch.matmul(torch.softmax(w, dim=-1), v)\n",
                     "a forward input"},
        NotAttention{"SlidingWindow",
                     "    w = torch.matmul(q, k.transpose(-1, -2))\n"
                     "    w = w.masked_fill(self.window[0:T, 0:T].logical_not(), float('-inf'))\n"
                     "    return torch.matmul(torch.softmax(w, dim=-1), v)\n",
                     "not triangular"},
        NotAttention{"FutureOnlyMask",
                     "    w = torch.matmul(q, k.transpose(-1, -2))\n"
                     "    w = w.masked_fill(self.keep[0:T, 0:T], float('-inf'))\n"
                     "    return torch.matmul(torch.softmax(w, dim=-1), v)\n",
                     "the other way round"},
        NotAttention{"ProbabilitiesReturned",
                     "    p = torch.softmax(torch.matmul(q, k.transpose(-1, -2)), dim=-1)\n"
                     "    return torch.matmul(p, v) + p.sum()\n",
                     "also used elsewhere"},
        NotAttention{"SoftmaxOverHeads",
                     "    return torch.matmul(torch.softmax(torch.matmul(q, k.transpose(-1, -2)), dim=1), v)\n",
                     "not over the last dim"},
        NotAttention{"NotKTransposed",
                     "    return torch.matmul(torch.softmax(torch.matmul(q, k.transpose(-1, -2).contiguous()), dim=-1), v)\n",
                     "not K transposed"}),
    [](const auto& info) { return std::string(info.param.name); });

// MLPs written the ways real models do.
struct MlpForm {
  const char* name;
  std::string body;      // computes the result from x [B, T, 16]
  std::string expected;  // a part of PassMatch::detail
};

class MlpForms : public testing::TestWithParam<MlpForm> {};

std::vector<std::pair<std::string, at::Tensor>> mlp_weights() {
  torch::manual_seed(7);
  return {{"w1", torch::randn({32, 16}) * 0.2}, {"b1", torch::randn({32}) * 0.1},
          {"w3", torch::randn({32, 16}) * 0.2}, {"w2", torch::randn({16, 32}) * 0.2},
          {"b2", torch::randn({16}) * 0.1},     {"c1", torch::randn({16, 32}) * 0.2},
          {"c2", torch::randn({32, 16}) * 0.2}};
}

TEST_P(MlpForms, Matched) {
  mlopt::test::ScratchDir dir;
  const auto model = model_from_source(dir, "def forward(self, x):\n" + GetParam().body, mlp_weights());
  const auto result = mlopt::apply_transforms(model, InputSpec::parse("x:float32[2,5,16]"), mlp_only());
  const auto& o = result.outcomes[0];
  ASSERT_EQ(o.matched.size(), 1u) << misses(o);
  EXPECT_NE(o.matched[0].detail.find(GetParam().expected), std::string::npos) << o.matched[0].detail;
  ASSERT_TRUE(o.verification.has_value());
  EXPECT_TRUE(o.verification->passed) << o.note;
  EXPECT_EQ(count_nodes(result.model, "mlopt::fused_mlp"), 1);
  EXPECT_EQ(count_nodes(result.model, "aten::linear"), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, MlpForms,
    testing::Values(
        MlpForm{"LinearGeluErf",
                "    return torch.linear(torch.gelu(torch.linear(x, self.w1, "
                "self.b1)), self.w2, self.b2)\n",
                "gelu, 16 -> 32 -> 16, Linear [out, in], biases"},
        MlpForm{"LinearGeluTanhResidual",
                "    h = torch.gelu(torch.linear(x, self.w1, self.b1), approximate='tanh')\n"
                "    return x + torch.linear(h, self.w2, self.b2)\n",
                "gelu_tanh, 16 -> 32 -> 16, Linear [out, in], biases, residual fused"},
        MlpForm{"ReluNoBias",
                "    return torch.linear(torch.relu(torch.linear(x, self.w1)), self.w2)\n",
                "relu, 16 -> 32 -> 16"},
        MlpForm{"GeluErfFormula",
                "    h = torch.linear(x, self.w1, self.b1)\n"
                "    h = h * 0.5 * (1.0 + torch.erf(h / 1.4142135623730951))\n"
                "    return torch.linear(h, self.w2, self.b2)\n",
                "gelu, 16 -> 32"},
        MlpForm{"GeGlu",
                "    h = torch.gelu(torch.linear(x, self.w1)) * "
                "torch.linear(x, self.w3)\n"
                "    return torch.linear(h, self.w2)\n",
                "gated gelu"},
        MlpForm{"Conv1DUpLinearDown",
                "    h = torch.addmm(self.b1, x.view(-1, 16), self.c1).view(x.size()[:-1] + [32])\n"
                "    return torch.linear(torch.relu(h), self.w2, self.b2)\n",
                "Conv1D [in, out]"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(MlpNegatives, ActivationUsedTwiceOrWeightsFromInputsAreLeftAlone) {
  mlopt::test::ScratchDir dir;
  const auto model = model_from_source(
      dir,
      "def forward(self, x, w):\n"
      "    h = torch.relu(torch.linear(x, self.w1))\n"
      "    y = torch.linear(h, self.w2) + h.sum()\n"
      "    return torch.linear(torch.silu(torch.linear(y, w)), self.w2)\n",
      mlp_weights());
  const auto result =
      mlopt::apply_transforms(model, InputSpec::parse("x:float32[2,5,16]; w:float32[32,16]"), mlp_only());
  const auto& o = result.outcomes[0];
  EXPECT_TRUE(o.matched.empty());
  ASSERT_EQ(o.missed.size(), 2u);
  EXPECT_NE(o.missed[0].reason.find("used more than once"), std::string::npos) << o.missed[0].reason;
  EXPECT_NE(o.missed[1].reason.find("constant weights"), std::string::npos) << o.missed[1].reason;
}

TEST(AlignLinear, PadsAnOddVocabularyHeadAndSlicesItBack) {
  mlopt::test::ScratchDir dir;
  auto config = mlopt::samples::gpt2_preset("tiny");
  config.vocab = 16411;  // not a multiple of 8, and 16411 x 64 weights: worth padding
  const auto file = dir / "gpt2-odd-vocab.pt";
  mlopt::samples::write_gpt2(config, file);
  TransformOptions options;
  options.align_linear = true;
  const auto spec = InputSpec::parse("ids:int64[1,8]");
  const auto result = mlopt::apply_transforms(Model::load(file), spec, options);
  const auto& o = result.outcomes.at(0);
  EXPECT_EQ(o.transform, "align_linear");
  // The head, and the 8 Conv1D layers (2 layers x c_attn, c_proj, c_fc, mlp.c_proj) as linear.
  ASSERT_EQ(o.matched.size(), 9u) << misses(o);
  EXPECT_EQ(o.matched[0].module, "lm_head");
  EXPECT_EQ(o.matched[0].detail.rfind("16411 -> 16448 output features", 0), 0u) << o.matched[0].detail;
  EXPECT_EQ(o.matched[1].module, "transformer.h.0.attn.c_attn");
  EXPECT_EQ(o.matched[1].detail.rfind("Conv1D addmm [64, 192] -> linear", 0), 0u) << o.matched[1].detail;
  EXPECT_TRUE(o.applied) << o.note;
  ASSERT_TRUE(o.verification.has_value());
  // The same products; the BLAS may sum a transposed weight in another
  // order (libtorch 2.11's CPU GEMM does), so fp32 rounding only.
  EXPECT_LT(o.verification->outputs.at(0).error, 1e-6);
  const auto info = result.model.analyze(spec);
  EXPECT_EQ(info.nodes.back().kind, "aten::slice");
  EXPECT_EQ(std::count_if(info.nodes.begin(), info.nodes.end(), [](const auto& n) { return n.kind == "aten::addmm"; }),
            0);
}

// Padding alone changes no dot product: the outputs are bit-identical.
TEST(AlignLinear, PaddingAloneGivesExactlyTheSameOutputs) {
  mlopt::test::ScratchDir dir;
  torch::manual_seed(3);
  const auto model = model_from_source(dir, "def forward(self, x):\n    return torch.linear(x, self.w, self.b)\n",
                                       {{"w", torch::randn({16411, 64})}, {"b", torch::randn({16411})}});
  TransformOptions options;
  options.align_linear = true;
  const auto result = mlopt::apply_transforms(model, InputSpec::parse("x:float32[3,64]"), options);
  const auto& o = result.outcomes.at(0);
  ASSERT_EQ(o.matched.size(), 1u) << misses(o);
  EXPECT_EQ(o.matched[0].detail.rfind("16411 -> 16448 output features", 0), 0u) << o.matched[0].detail;
  ASSERT_TRUE(o.verification.has_value());
  EXPECT_EQ(o.verification->outputs.at(0).error, 0.0);
}

TEST(CudaGraphs, OnTheCpuTheTransformSaysWhyNot) {
  TransformOptions options;
  options.cuda_graphs = true;
  const auto result =
      mlopt::apply_transforms(Model::load(mlopt::test::tiny_gpt2()), InputSpec::parse("ids:int64[1,8]"), options);
  ASSERT_EQ(result.outcomes.size(), 1u);
  const auto& o = result.outcomes[0];
  EXPECT_EQ(o.transform, "cuda_graphs");
  EXPECT_FALSE(o.applied);
  ASSERT_EQ(o.missed.size(), 1u);
  EXPECT_NE(o.missed[0].reason.find("need a CUDA device"), std::string::npos) << o.missed[0].reason;
}

TEST(Verification, WrongRewriteIsRolledBack) {
  // A deliberately wrong rewrite: every softmax becomes a sigmoid.
  const auto model = Model::load(mlopt::test::tiny_gpt2());
  mlopt::Model current = model;
  const auto wrong = [](torch::jit::Graph& graph, const mlopt::RewriteContext&, TransformOutcome& outcome) {
    for (auto* node : graph.nodes()) {
      if (node->kind() != c10::aten::softmax) continue;
      torch::jit::WithInsertPoint at(node);
      node->output()->replaceAllUsesWith(graph.insert(c10::aten::sigmoid, {node->input(0)}));
      outcome.matched.push_back({"somewhere", "softmax -> sigmoid"});
    }
  };
  const auto o = mlopt::apply_graph_rewrite(current, InputSpec::parse("ids:int64[1,16]"), attention_only(),
                                            "sigmoid", wrong);
  EXPECT_EQ(o.transform, "sigmoid");
  EXPECT_EQ(o.matched.size(), 2u);
  ASSERT_TRUE(o.verification.has_value());
  EXPECT_FALSE(o.verification->passed);
  EXPECT_FALSE(o.applied);
  EXPECT_EQ(o.note.rfind("rolled back: verification failed (output: error ", 0), 0u) << o.note;
  EXPECT_GT(o.verification->outputs.at(0).error, 1e-2);
  // The model is the one it was.
  EXPECT_EQ(count_nodes(current, "aten::sigmoid"), 0);
  EXPECT_EQ(count_nodes(current, "aten::softmax"), 2);
}

TEST(Verification, ToleranceDecides) {
  // bf16 on the CPU: the op computes in fp32 and rounds once, the original
  // rounds after every op, so their outputs differ a little; a tolerance of
  // zero must reject that, the bf16 default must accept it.
  mlopt::LoadOptions bf16;
  bf16.dtype = mlopt::DType::BF16;
  const auto model = Model::load(mlopt::test::tiny_gpt2(), bf16);
  const auto spec = InputSpec::parse("ids:int64[1,16]");
  auto strict = attention_only();
  strict.tolerance = 0.0;
  const auto rejected = mlopt::apply_transforms(model, spec, strict);
  EXPECT_FALSE(rejected.outcomes[0].applied);
  EXPECT_GT(rejected.outcomes[0].verification->outputs.at(0).error, 0.0);
  EXPECT_EQ(count_nodes(rejected.model, "mlopt::flash_attention"), 0);
  const auto accepted = mlopt::apply_transforms(model, spec, attention_only());
  EXPECT_TRUE(accepted.outcomes[0].applied) << accepted.outcomes[0].note;
  EXPECT_EQ(count_nodes(accepted.model, "mlopt::flash_attention"), 2);
}

TEST(Verification, DifferentModelsFail) {
  mlopt::test::ScratchDir dir;
  auto config = mlopt::samples::gpt2_preset("tiny");
  config.seed = 1;
  mlopt::samples::write_gpt2(config, dir / "other.pt");
  const auto original = Model::load(mlopt::test::tiny_gpt2());
  const auto other = Model::load(dir / "other.pt");
  const auto spec = InputSpec::parse("ids:int64[1,8]");
  const auto same = mlopt::verify_outputs(original, original, spec, {1, 2}, 0.0);
  EXPECT_TRUE(same.passed);
  EXPECT_EQ(same.outputs.at(0).error, 0.0);
  const auto differ = mlopt::verify_outputs(original, other, spec, {1, 2}, 1e-2);
  EXPECT_FALSE(differ.passed);
  EXPECT_GT(differ.outputs.at(0).error, 1e-2);
  EXPECT_EQ(differ.seeds, (std::vector<uint64_t>{1, 2}));
}

TEST(SaveOptimized, ReloadsAndGivesTheSameOutputs) {
  mlopt::test::ScratchDir dir;
  const auto model = Model::load(mlopt::test::tiny_llama());
  const auto spec = InputSpec::parse("ids:int64[1,10]");
  const auto optimized = mlopt::apply_transforms(model, spec, both()).model;
  ASSERT_GT(count_nodes(optimized, "mlopt::fused_mlp"), 0);
  const auto file = dir / "optimized.pt";
  mlopt::save_model(optimized, file);
  const auto reloaded = Model::load(file);
  EXPECT_EQ(count_nodes(reloaded, "mlopt::fused_mlp"), count_nodes(optimized, "mlopt::fused_mlp"));
  EXPECT_EQ(count_nodes(reloaded, "mlopt::flash_attention"), count_nodes(optimized, "mlopt::flash_attention"));
  const auto check = mlopt::verify_outputs(optimized, reloaded, spec, {5}, 0.0);
  EXPECT_TRUE(check.passed) << check.error;
  EXPECT_EQ(reloaded.info().dtype, mlopt::DType::F32);
  // Its weights are graph constants in fp32: converting on load is refused.
  mlopt::LoadOptions bf16;
  bf16.dtype = mlopt::DType::BF16;
  EXPECT_THROW(Model::load(file, bf16), mlopt::UsageError);
}

}  // namespace

namespace {
TEST(SaveOptimized, ReloadedModelKnowsItsDtype) {
  // The optimized model has no parameters left (its weights are graph
  // constants): its dtype comes from those.
  mlopt::test::ScratchDir dir;
  mlopt::LoadOptions bf16;
  bf16.dtype = mlopt::DType::BF16;
  const auto model = Model::load(mlopt::test::tiny_gpt2(), bf16);
  const auto optimized = mlopt::apply_transforms(model, InputSpec::parse("ids:int64[1,8]"), mlp_only()).model;
  mlopt::save_model(optimized, dir / "bf16.pt");
  EXPECT_EQ(Model::load(dir / "bf16.pt").info().dtype, mlopt::DType::BF16);
}
}  // namespace
