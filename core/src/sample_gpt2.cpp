// GPT-2-style sample model, written the way HF's GPT2LMHeadModel computes it
// (names included: transformer.h.0.attn.c_attn, ...), so that graph analysis
// and the attention/MLP rewrites see the patterns real exported models have.
#include <cmath>
#include <numbers>

#include "mlopt/core/sample_models.h"
#include "sample_common.h"

namespace mlopt::samples {
namespace {

using detail::ModuleBuilder;
using detail::py_float;
using torch::jit::Module;

constexpr double kInitStd = 0.02;  // HF GPT2Config.initializer_range

void validate(const Gpt2Config& c) {
  detail::require_positive("gpt2", "layers", c.layers);
  detail::require_positive("gpt2", "heads", c.heads);
  detail::require_positive("gpt2", "dim", c.dim);
  detail::require_positive("gpt2", "vocab", c.vocab);
  detail::require_positive("gpt2", "positions", c.positions);
  detail::require(c.dim % c.heads == 0, "gpt2",
                  "dim " + std::to_string(c.dim) + " is not divisible by heads " +
                      std::to_string(c.heads));
  if (c.sdpa) detail::require_sdpa("gpt2");
}

Module layer_norm(ModuleBuilder& b, int64_t dim) {
  return b.make("LayerNorm",
                {detail::parameter("weight", b.near_one({dim}, kInitStd)),
                 detail::parameter("bias", b.normal({dim}, kInitStd))},
                "def forward(self, x):\n"
                "    return torch.layer_norm(x, [" + std::to_string(dim) +
                    "], self.weight, self.bias, 1e-05)\n");
}

// HF's Conv1D: a linear layer stored transposed ([in, out]) and computed
// with addmm on the flattened input. The output width is an attribute (HF's
// `nf`), not a literal, so every Conv1D shares one class.
Module conv1d(ModuleBuilder& b, int64_t in, int64_t out, double std) {
  return b.make("Conv1D",
                {detail::parameter("weight", b.normal({in, out}, std)),
                 detail::parameter("bias", b.normal({out}, kInitStd)),
                 detail::int_value("nf", out)},
                "def forward(self, x):\n"
                "    size_out = x.size()[:-1] + [self.nf]\n"
                "    x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)\n"
                "    return x.view(size_out)\n");
}

// Attention core, either written out (matmul, scale, causal mask sliced from
// the bool buffer, softmax, matmul) or as one fused SDPA call.
std::string attention_core(const Gpt2Config& c) {
  if (c.sdpa) return "    a = torch.scaled_dot_product_attention(q, k, v, None, 0.0, True)\n";
  const double scale = std::sqrt(static_cast<double>(c.dim / c.heads));
  return "    w = torch.matmul(q, k.transpose(-1, -2))\n"
         "    w = w / " + py_float(scale) + "\n"
         "    mask = self.bias[:, :, 0:T, 0:T]\n"
         "    w = w.masked_fill(mask.logical_not(), float(\"-inf\"))\n"
         "    w = torch.softmax(w, dim=-1)\n"
         "    a = torch.matmul(w, v)\n";
}

Module attention(ModuleBuilder& b, const Gpt2Config& c) {
  const double proj_std = kInitStd / std::sqrt(2.0 * c.layers);  // GPT-2's residual scaling
  auto c_attn = conv1d(b, c.dim, 3 * c.dim, kInitStd);
  auto c_proj = conv1d(b, c.dim, c.dim, proj_std);
  // HF keeps the causal mask as a bool buffer of the full context and slices it.
  auto mask = torch::ones({c.positions, c.positions}, torch::kBool)
                  .tril()
                  .view({1, 1, c.positions, c.positions});
  const auto H = std::to_string(c.heads);
  const auto D = std::to_string(c.dim / c.heads);
  const auto dim = std::to_string(c.dim);
  return b.make(
      "GPT2Attention",
      {detail::child("c_attn", c_attn), detail::child("c_proj", c_proj),
       detail::buffer("bias", mask)},
      "def forward(self, x):\n"
      "    B = x.size(0)\n"
      "    T = x.size(1)\n"
      "    q, k, v = self.c_attn.forward(x).split(" + dim + ", dim=2)\n"
      "    q = q.view(B, T, " + H + ", " + D + ").permute(0, 2, 1, 3)\n"
      "    k = k.view(B, T, " + H + ", " + D + ").permute(0, 2, 1, 3)\n"
      "    v = v.view(B, T, " + H + ", " + D + ").permute(0, 2, 1, 3)\n" +
      attention_core(c) +
      "    a = a.permute(0, 2, 1, 3).contiguous().view(B, T, " + dim + ")\n"
      "    return self.c_proj.forward(a)\n");
}

Module mlp(ModuleBuilder& b, const Gpt2Config& c) {
  auto c_fc = conv1d(b, c.dim, 4 * c.dim, kInitStd);
  auto c_proj = conv1d(b, 4 * c.dim, c.dim, kInitStd / std::sqrt(2.0 * c.layers));
  // GELU with the tanh formula written out, as HF's NewGELUActivation does;
  // `math` cannot be named in Module::define, so sqrt(2 / pi) is a literal.
  const auto sqrt_2_over_pi = py_float(std::sqrt(2.0 / std::numbers::pi));
  return b.make("GPT2MLP", {detail::child("c_fc", c_fc), detail::child("c_proj", c_proj)},
                "def forward(self, x):\n"
                "    h = self.c_fc.forward(x)\n"
                "    h = 0.5 * h * (1.0 + torch.tanh(" + sqrt_2_over_pi +
                    " * (h + 0.044715 * torch.pow(h, 3.0))))\n"
                "    return self.c_proj.forward(h)\n");
}

Module block(ModuleBuilder& b, const Gpt2Config& c) {
  // Built in HF's order, which is also the order weights are drawn in.
  auto ln_1 = layer_norm(b, c.dim);
  auto attn = attention(b, c);
  auto ln_2 = layer_norm(b, c.dim);
  auto feed_forward = mlp(b, c);
  return b.make("GPT2Block",
                {detail::child("ln_1", ln_1), detail::child("attn", attn),
                 detail::child("ln_2", ln_2), detail::child("mlp", feed_forward)},
                R"(
def forward(self, x):
    x = x + self.attn.forward(self.ln_1.forward(x))
    x = x + self.mlp.forward(self.ln_2.forward(x))
    return x
)");
}

Module transformer(ModuleBuilder& b, const Gpt2Config& c) {
  auto wte = detail::embedding(b, b.normal({c.vocab, c.dim}, kInitStd));
  auto wpe = detail::embedding(b, b.normal({c.positions, c.dim}, kInitStd));
  std::vector<Module> blocks;
  for (int64_t i = 0; i < c.layers; ++i) blocks.push_back(block(b, c));
  auto h = detail::sequential(b, "GPT2Blocks", blocks);
  auto ln_f = layer_norm(b, c.dim);
  return b.make("GPT2Model",
                {detail::child("wte", wte), detail::child("wpe", wpe), detail::child("h", h),
                 detail::child("ln_f", ln_f)},
                R"(
def forward(self, ids):
    pos = torch.arange(ids.size(1), device=ids.device).unsqueeze(0)
    x = self.wte.forward(ids) + self.wpe.forward(pos)
    x = self.h.forward(x)
    return self.ln_f.forward(x)
)");
}

at::Tensor token_embedding(const Module& model) {
  return model.attr("transformer").toModule().attr("wte").toModule().attr("weight").toTensor();
}

// The LM head is tied to the token embedding: the same tensor registered
// twice, which the file stores once.
void tie_lm_head(Module& model) {
  model.attr("lm_head").toModule().register_parameter("weight", token_embedding(model), false);
}

Module build(const Gpt2Config& c) {
  ModuleBuilder b(c.seed);
  auto body = transformer(b, c);
  auto lm_head = detail::linear(b, body.attr("wte").toModule().attr("weight").toTensor());
  return b.make("GPT2LMHeadModel",
                {detail::child("transformer", body), detail::child("lm_head", lm_head)},
                R"(
def forward(self, ids: Tensor) -> Tensor:
    return self.lm_head.forward(self.transformer.forward(ids))
)");
}

}  // namespace

namespace detail {
std::vector<std::string> gpt2_preset_names() { return {"tiny", "gpt2"}; }
}  // namespace detail

Gpt2Config gpt2_preset(std::string_view name) {
  Gpt2Config c;
  if (name == "tiny") {
    c.layers = 2;
    c.heads = 4;
    c.dim = 64;
    c.vocab = 512;
    c.positions = 128;
    return c;
  }
  if (name == "gpt2") return c;  // the struct's defaults are GPT-2 small
  detail::unknown_preset("gpt2", name);
}

int64_t parameter_count(const Gpt2Config& c) {
  const int64_t d = c.dim;
  const int64_t layer_norm = 2 * d;
  const int64_t attn = (d * 3 * d + 3 * d) + (d * d + d);
  const int64_t mlp = (d * 4 * d + 4 * d) + (4 * d * d + d);
  const int64_t block = 2 * layer_norm + attn + mlp;
  // The tied LM head adds nothing.
  return c.vocab * d + c.positions * d + c.layers * block + layer_norm;
}

void write_gpt2(const Gpt2Config& config, const std::filesystem::path& file, DType dtype) {
  detail::require_floating(dtype);
  validate(config);
  auto model = build(config);
  detail::convert_and_eval(model, dtype);
  // Conversion may have replaced the embedding by a converted copy; tie again
  // so the head never holds a second copy of the largest weight.
  tie_lm_head(model);
  detail::save_atomically(model, file);
}

}  // namespace mlopt::samples
