// Llama-style sample model, written the way HF's LlamaForCausalLM computes
// it (names included: model.layers.0.self_attn.q_proj, ...): RMSNorm in fp32,
// rotary embeddings with rotate_half, grouped-query attention with k/v
// repeated to the query heads, SwiGLU MLP, untied LM head.
#include <cmath>

#include "mlopt/core/sample_models.h"
#include "sample_common.h"

namespace mlopt::samples {
namespace {

using detail::ModuleBuilder;
using detail::py_float;
using torch::jit::Module;

constexpr double kInitStd = 0.02;  // HF LlamaConfig.initializer_range

std::string str(int64_t value) { return std::to_string(value); }

void validate(const LlamaConfig& c) {
  detail::require_positive("llama", "layers", c.layers);
  detail::require_positive("llama", "heads", c.heads);
  detail::require_positive("llama", "kv_heads", c.kv_heads);
  detail::require_positive("llama", "dim", c.dim);
  detail::require_positive("llama", "ffn_dim", c.ffn_dim);
  detail::require_positive("llama", "vocab", c.vocab);
  detail::require_positive("llama", "positions", c.positions);
  const auto require = [](bool ok, const std::string& message) {
    detail::require(ok, "llama", message);
  };
  require(c.dim % c.heads == 0,
          "dim " + str(c.dim) + " is not divisible by heads " + str(c.heads));
  require(c.heads % c.kv_heads == 0, "heads " + str(c.heads) +
                                         " is not divisible by kv_heads " + str(c.kv_heads));
  require((c.dim / c.heads) % 2 == 0,
          "head_dim " + str(c.dim / c.heads) + " (dim / heads) must be even for rotary embeddings");
  require(c.rope_theta > 0.0, "rope_theta must be positive, got " + py_float(c.rope_theta));
  require(c.norm_eps > 0.0, "norm_eps must be positive, got " + py_float(c.norm_eps));
  if (c.sdpa) detail::require_sdpa("llama");
}

// RMSNorm in fp32, cast back to the input dtype before the weight, as HF.
Module rms_norm(ModuleBuilder& b, const LlamaConfig& c) {
  return b.make("LlamaRMSNorm", {detail::parameter("weight", b.near_one({c.dim}, kInitStd))},
                "def forward(self, x):\n"
                "    h = x.float()\n"
                "    variance = h.pow(2).mean(-1, keepdim=True)\n"
                "    h = h * torch.rsqrt(variance + " + py_float(c.norm_eps) + ")\n"
                "    return self.weight * h.to(x.dtype)\n");
}

// cos/sin tables for every position, computed once in fp32 like HF's
// LlamaRotaryEmbedding; forward slices them to the sequence length.
Module rotary_embedding(ModuleBuilder& b, const LlamaConfig& c) {
  const int64_t head_dim = c.dim / c.heads;
  const auto exponents = torch::arange(0, head_dim, 2, torch::kInt64).to(torch::kFloat32) / head_dim;
  const auto inv_freq = 1.0 / torch::pow(c.rope_theta, exponents);
  const auto t = torch::arange(c.positions, torch::kFloat32);
  const auto freqs = torch::outer(t, inv_freq);
  const auto emb = torch::cat({freqs, freqs}, -1);
  return b.make("LlamaRotaryEmbedding",
                {detail::buffer("cos_cached", emb.cos().contiguous()),
                 detail::buffer("sin_cached", emb.sin().contiguous())},
                R"(
def forward(self, x):
    T = x.size(1)
    return self.cos_cached[0:T].to(x.dtype), self.sin_cached[0:T].to(x.dtype)
)");
}

// q * cos + rotate_half(q) * sin, rotate_half written out as HF's.
std::string apply_rotary(const std::string& t, int64_t head_dim) {
  const auto half = str(head_dim / 2);
  return "    " + t + " = " + t + " * cos + torch.cat((-" + t + "[..., " + half + ":], " + t +
         "[..., 0:" + half + "]), dim=-1) * sin\n";
}

// HF's repeat_kv: [B, kv, T, D] -> [B, heads, T, D] by expand + reshape;
// nothing to do when every query head has its own k/v (MHA).
std::string repeat_kv(const std::string& t, const LlamaConfig& c) {
  const int64_t n_rep = c.heads / c.kv_heads;
  if (n_rep == 1) return "";
  const auto D = str(c.dim / c.heads);
  return "    " + t + " = " + t + ".unsqueeze(2).expand(B, " + str(c.kv_heads) + ", " + str(n_rep) +
         ", T, " + D + ").reshape(B, " + str(c.heads) + ", T, " + D + ")\n";
}

// Attention core: written out with an additive causal mask and a softmax in
// fp32 (as HF's eager path; dtype names such as torch.float32 cannot be used
// in Module::define, hence .float()), or one fused SDPA call.
std::string attention_core(const LlamaConfig& c) {
  if (c.sdpa) return "    a = torch.scaled_dot_product_attention(q, k, v, None, 0.0, True)\n";
  const double scale = std::sqrt(static_cast<double>(c.dim / c.heads));
  return "    w = torch.matmul(q, k.transpose(2, 3)) / " + py_float(scale) + "\n"
         "    mask = torch.full([T, T], float(\"-inf\"), dtype=w.dtype, device=w.device).triu(1)\n"
         "    w = w + mask\n"
         "    w = torch.softmax(w.float(), dim=-1).to(q.dtype)\n"
         "    a = torch.matmul(w, v)\n";
}

Module attention(ModuleBuilder& b, const LlamaConfig& c) {
  const int64_t head_dim = c.dim / c.heads;
  const int64_t kv_dim = c.kv_heads * head_dim;
  auto q_proj = detail::linear(b, b.normal({c.dim, c.dim}, kInitStd));
  auto k_proj = detail::linear(b, b.normal({kv_dim, c.dim}, kInitStd));
  auto v_proj = detail::linear(b, b.normal({kv_dim, c.dim}, kInitStd));
  auto o_proj = detail::linear(b, b.normal({c.dim, c.dim}, kInitStd));
  const auto D = str(head_dim);
  return b.make(
      "LlamaAttention",
      {detail::child("q_proj", q_proj), detail::child("k_proj", k_proj),
       detail::child("v_proj", v_proj), detail::child("o_proj", o_proj)},
      "def forward(self, x, cos, sin):\n"
      "    B = x.size(0)\n"
      "    T = x.size(1)\n"
      "    q = self.q_proj.forward(x).view(B, T, " + str(c.heads) + ", " + D + ").transpose(1, 2)\n"
      "    k = self.k_proj.forward(x).view(B, T, " + str(c.kv_heads) + ", " + D + ").transpose(1, 2)\n"
      "    v = self.v_proj.forward(x).view(B, T, " + str(c.kv_heads) + ", " + D + ").transpose(1, 2)\n"
      "    cos = cos.unsqueeze(0).unsqueeze(0)\n"
      "    sin = sin.unsqueeze(0).unsqueeze(0)\n" +
      apply_rotary("q", head_dim) + apply_rotary("k", head_dim) + repeat_kv("k", c) +
      repeat_kv("v", c) + attention_core(c) +
      "    a = a.transpose(1, 2).contiguous().reshape(B, T, " + str(c.dim) + ")\n"
      "    return self.o_proj.forward(a)\n");
}

// SwiGLU: down(silu(gate(x)) * up(x)).
Module mlp(ModuleBuilder& b, const LlamaConfig& c) {
  auto gate_proj = detail::linear(b, b.normal({c.ffn_dim, c.dim}, kInitStd));
  auto up_proj = detail::linear(b, b.normal({c.ffn_dim, c.dim}, kInitStd));
  auto down_proj = detail::linear(b, b.normal({c.dim, c.ffn_dim}, kInitStd));
  return b.make("LlamaMLP",
                {detail::child("gate_proj", gate_proj), detail::child("up_proj", up_proj),
                 detail::child("down_proj", down_proj)},
                R"(
def forward(self, x):
    return self.down_proj.forward(torch.silu(self.gate_proj.forward(x)) * self.up_proj.forward(x))
)");
}

Module decoder_layer(ModuleBuilder& b, const LlamaConfig& c) {
  // Built in HF's order, which is also the order weights are drawn in.
  auto input_layernorm = rms_norm(b, c);
  auto self_attn = attention(b, c);
  auto post_attention_layernorm = rms_norm(b, c);
  auto feed_forward = mlp(b, c);
  return b.make("LlamaDecoderLayer",
                {detail::child("input_layernorm", input_layernorm),
                 detail::child("self_attn", self_attn),
                 detail::child("post_attention_layernorm", post_attention_layernorm),
                 detail::child("mlp", feed_forward)},
                R"(
def forward(self, x, cos, sin):
    x = x + self.self_attn.forward(self.input_layernorm.forward(x), cos, sin)
    x = x + self.mlp.forward(self.post_attention_layernorm.forward(x))
    return x
)");
}

Module llama_model(ModuleBuilder& b, const LlamaConfig& c) {
  auto embed_tokens = detail::embedding(b, b.normal({c.vocab, c.dim}, kInitStd));
  std::vector<Module> layers;
  for (int64_t i = 0; i < c.layers; ++i) layers.push_back(decoder_layer(b, c));
  auto stack = detail::sequential(b, "LlamaLayers", layers, "cos, sin");
  auto norm = rms_norm(b, c);
  auto rotary_emb = rotary_embedding(b, c);
  return b.make("LlamaModel",
                {detail::child("embed_tokens", embed_tokens), detail::child("layers", stack),
                 detail::child("norm", norm), detail::child("rotary_emb", rotary_emb)},
                R"(
def forward(self, ids):
    h = self.embed_tokens.forward(ids)
    cos, sin = self.rotary_emb.forward(h)
    h = self.layers.forward(h, cos, sin)
    return self.norm.forward(h)
)");
}

Module build(const LlamaConfig& c) {
  ModuleBuilder b(c.seed);
  auto body = llama_model(b, c);
  auto lm_head = detail::linear(b, b.normal({c.vocab, c.dim}, kInitStd));
  return b.make("LlamaForCausalLM",
                {detail::child("model", body), detail::child("lm_head", lm_head)},
                R"(
def forward(self, ids: Tensor) -> Dict[str, Tensor]:
    return {"logits": self.lm_head.forward(self.model.forward(ids))}
)");
}

}  // namespace

namespace detail {
std::vector<std::string> llama_preset_names() { return {"tiny", "1b"}; }
}  // namespace detail

LlamaConfig llama_preset(std::string_view name) {
  LlamaConfig c;
  if (name == "tiny") {
    c.layers = 2;
    c.heads = 4;
    c.kv_heads = 2;
    c.dim = 64;
    c.ffn_dim = 176;
    c.vocab = 512;
    c.positions = 128;
    return c;
  }
  if (name == "1b") return c;  // the struct's defaults are TinyLlama-1.1B's sizes
  detail::unknown_preset("llama", name);
}

int64_t parameter_count(const LlamaConfig& c) {
  const int64_t d = c.dim;
  const int64_t kv_dim = c.kv_heads * (d / c.heads);
  const int64_t attn = 2 * d * d + 2 * d * kv_dim;
  const int64_t mlp = 3 * d * c.ffn_dim;
  const int64_t layer = 2 * d + attn + mlp;
  return 2 * c.vocab * d + c.layers * layer + d;  // embeddings, head untied
}

void write_llama(const LlamaConfig& config, const std::filesystem::path& file, DType dtype) {
  detail::require_floating(dtype);
  validate(config);
  auto model = build(config);
  detail::convert_and_eval(model, dtype);
  detail::save_atomically(model, file);
}

}  // namespace mlopt::samples
