// mlopt make-model ARCH --preset NAME -o FILE: write a sample model.
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>

#include "commands.h"
#include "format.h"
#include "mlopt/core/error.h"
#include "mlopt/core/sample_models.h"

namespace mlopt::cli {
namespace {

struct MakeModelOptions {
  std::string arch;
  std::string preset = "tiny";
  std::string output;
  std::string dtype = "fp32";
  std::optional<int64_t> layers, heads, kv_heads, dim, ffn_dim, vocab, positions;
  bool sdpa = false;
  uint64_t seed = 0;
};

template <typename Config>
void apply_common(Config& c, const MakeModelOptions& o) {
  if (o.layers) c.layers = *o.layers;
  if (o.heads) c.heads = *o.heads;
  if (o.dim) c.dim = *o.dim;
  if (o.vocab) c.vocab = *o.vocab;
  if (o.positions) c.positions = *o.positions;
  c.sdpa = o.sdpa;
  c.seed = o.seed;
}

}  // namespace

Command add_make_model(CLI::App& app) {
  auto o = std::make_shared<MakeModelOptions>();
  auto* sub = app.add_subcommand("make-model", "Write a sample decoder (random weights) as a TorchScript file");
  sub->add_option("arch", o->arch, "gpt2 or llama")->required();
  sub->add_option("--preset", o->preset, "gpt2: tiny, gpt2; llama: tiny, 1b")->capture_default_str();
  sub->add_option("-o,--output", o->output, "File to write (.pt)")->required();
  sub->add_option("--dtype", o->dtype, "Weight dtype: fp32, fp16, bf16")->capture_default_str();
  sub->add_option("--layers", o->layers, "Override the preset's layer count")->check(CLI::PositiveNumber);
  sub->add_option("--heads", o->heads, "Override the attention heads")->check(CLI::PositiveNumber);
  sub->add_option("--kv-heads", o->kv_heads, "llama: key/value heads (grouped-query attention)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--dim", o->dim, "Override the hidden size")->check(CLI::PositiveNumber);
  sub->add_option("--ffn-dim", o->ffn_dim, "llama: MLP intermediate size")->check(CLI::PositiveNumber);
  sub->add_option("--vocab", o->vocab, "Override the vocabulary size")->check(CLI::PositiveNumber);
  sub->add_option("--positions", o->positions, "Override the maximum sequence length")->check(CLI::PositiveNumber);
  sub->add_flag("--sdpa", o->sdpa, "Write attention as aten::scaled_dot_product_attention (libtorch 2.0+)");
  sub->add_option("--seed", o->seed, "Seed for the random weights")->capture_default_str();
  return {sub, [o]() {
            const DType dtype = parse_dtype(o->dtype);
            const auto start = std::chrono::steady_clock::now();
            int64_t params = 0;
            if (o->arch == "gpt2") {
              if (o->kv_heads || o->ffn_dim) throw UsageError("--kv-heads and --ffn-dim apply to llama only");
              auto config = samples::gpt2_preset(o->preset);
              apply_common(config, *o);
              samples::write_gpt2(config, o->output, dtype);
              params = samples::parameter_count(config);
            } else if (o->arch == "llama") {
              auto config = samples::llama_preset(o->preset);
              apply_common(config, *o);
              if (o->kv_heads) config.kv_heads = *o->kv_heads;
              if (o->ffn_dim) config.ffn_dim = *o->ffn_dim;
              samples::write_llama(config, o->output, dtype);
              params = samples::parameter_count(config);
            } else {
              throw UsageError("unknown architecture '" + o->arch + "': use gpt2 or llama");
            }
            const double seconds =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            std::cout << "wrote " << o->output << ": " << o->arch << " preset " << o->preset << ", "
                      << human_count(params) << " parameters in " << to_string(dtype) << " (" << fixed(seconds, 1)
                      << " s)\n";
            return 0;
          }};
}

}  // namespace mlopt::cli
