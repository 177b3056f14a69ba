#pragma once
// Sample models written by our own code as TorchScript files with random
// weights (no download): a GPT-2-style and a Llama-style decoder. They are
// the test fixtures (preset "tiny") and the models the README opens.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlopt/core/dtype.h"

namespace mlopt::samples {

// GPT-2 style: token + position embeddings, pre-LayerNorm blocks, fused qkv
// projection (Conv1D layout, addmm), causal self-attention written out as
// matmul / scale / mask from a bool buffer / softmax / matmul, GELU with the
// tanh formula written out ("new GELU"), tied LM head. forward(ids) -> logits.
struct Gpt2Config {
  int64_t layers = 12;
  int64_t heads = 12;
  int64_t dim = 768;
  int64_t vocab = 50257;
  int64_t positions = 1024;
  bool sdpa = false;  // attention as aten::scaled_dot_product_attention
  uint64_t seed = 0;
};

// Llama style: RMSNorm, rotary position embeddings, grouped-query attention
// (k/v repeated to the query heads), SwiGLU MLP, untied LM head.
// forward(ids) -> {"logits": ...}.
struct LlamaConfig {
  int64_t layers = 22;
  int64_t heads = 32;
  int64_t kv_heads = 4;
  int64_t dim = 2048;
  int64_t ffn_dim = 5632;
  int64_t vocab = 32000;
  int64_t positions = 2048;
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;
  bool sdpa = false;
  uint64_t seed = 0;
};

// "tiny" (test fixture, well under a megabyte) and "gpt2" (GPT-2 small:
// 12 layers, 12 heads, 768 wide, vocab 50257, 1024 positions).
Gpt2Config gpt2_preset(std::string_view name);
// "tiny" and "1b" (TinyLlama-1.1B's sizes). Unknown names throw UsageError
// listing the known ones.
LlamaConfig llama_preset(std::string_view name);

std::vector<std::string> architectures();                  // {"gpt2", "llama"}
std::vector<std::string> presets(std::string_view arch);   // per architecture

// True when this libtorch has aten::scaled_dot_product_attention (2.0+).
bool libtorch_has_sdpa();

// Parameter count the config produces (tied weights counted once).
int64_t parameter_count(const Gpt2Config& config);
int64_t parameter_count(const LlamaConfig& config);

// Builds the module, converts floating-point weights to dtype (default fp32)
// and saves it atomically to `file`. Throws UsageError for an invalid config
// (e.g. dim not divisible by heads, sdpa without libtorch support), IoError.
void write_gpt2(const Gpt2Config& config, const std::filesystem::path& file,
                DType dtype = DType::F32);
void write_llama(const LlamaConfig& config, const std::filesystem::path& file,
                 DType dtype = DType::F32);

}  // namespace mlopt::samples
