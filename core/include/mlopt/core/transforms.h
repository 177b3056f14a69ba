#pragma once
// Graph transforms: rewrite a loaded model's frozen TorchScript graph so that
// attention and MLP blocks call mlopt's kernels (mlopt::flash_attention,
// mlopt::fused_mlp), check each rewrite against the original on fresh random
// inputs, and keep it only when every output still matches.
//
// Plain types only: the libtorch side lives in core/src/transforms/.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mlopt/core/input_spec.h"
#include "mlopt/core/model.h"

namespace mlopt {

// The built-in transforms' names (project files and reports use them).
inline constexpr const char* kFlashAttentionTransform = "flash_attention";
inline constexpr const char* kFusedMlpTransform = "fused_mlp";
inline constexpr const char* kAlignLinearTransform = "align_linear";
inline constexpr const char* kCudaGraphsTransform = "cuda_graphs";

// One pattern instance a pass replaced: where (module path) and what it saw
// ("causal, scale 0.125, GQA 32/8 heads"; "gelu_tanh, Conv1D [in, out]").
struct PassMatch {
  std::string module;
  std::string detail;
  bool operator==(const PassMatch&) const = default;
};

// A candidate (an anchor op such as softmax or an activation) the pass left
// alone, and why ("dropout in training mode", "head_dim 80: the CUDA kernel
// takes 64 and 128").
struct PassMiss {
  std::string module;
  std::string op;  // the anchor op, e.g. "aten::softmax"
  std::string reason;
  bool operator==(const PassMiss&) const = default;
};

// One output compared between the original and the transformed model.
// error = max |transformed - original| / max(max |original|, 1e-6): the
// largest deviation relative to the output's own scale, so one tolerance
// serves logits and hidden states alike.
struct OutputComparison {
  std::string name;  // "output", "output['logits']"
  double max_abs_error = 0;
  double max_reference = 0;  // max |original|
  double error = 0;
  double tolerance = 0;
  bool passed = false;
  std::string problem;  // shape/dtype mismatch, NaN where the original is finite; empty otherwise
  bool operator==(const OutputComparison&) const = default;
};

struct Verification {
  std::vector<uint64_t> seeds;  // one set of random inputs per seed
  std::vector<OutputComparison> outputs;  // the worst over the seeds, per output
  std::string error;  // the transformed forward threw: its message
  bool passed = false;
  bool operator==(const Verification&) const = default;
};

struct TransformOutcome {
  std::string transform;  // "flash_attention", "fused_mlp", or a custom rewrite's name
  std::vector<PassMatch> matched;
  std::vector<PassMiss> missed;
  std::optional<Verification> verification;  // empty when nothing matched
  // Kept in the optimized model: something matched and verification passed.
  bool applied = false;
  // Why it was not kept, in a sentence (nothing matched; verification failed
  // and the rewrite was rolled back).
  std::string note;
  bool operator==(const TransformOutcome&) const = default;
};

struct TransformOptions {
  bool flash_attention = false;
  bool fused_mlp = false;
  // Pad Linear layers whose output features are not a multiple of 8 (a
  // 50257-token LM head) to a multiple of 64 and slice the output back, so
  // cuBLAS runs its aligned tensor-core kernels: GPT-2's head at 8 x 1024
  // tokens took 7.4 ms unaligned on an H100. Costs a padded copy of the weight.
  bool align_linear = false;
  // Capture the whole forward (after the other transforms) as one CUDA graph
  // for the spec's shapes, replayed for inputs of those shapes (others run
  // the interpreter): a small batch's forward is bound by launching hundreds
  // of kernels, and a replay launches them all at once. Outputs are the
  // graph's own tensors, valid until the next forward (as torch.compile's
  // "reduce-overhead" mode). Not stored by save_model: captured at run time.
  bool cuda_graphs = false;
  // Inputs for verification are drawn from the optimize spec with these seeds.
  std::vector<uint64_t> verify_seeds = {1001, 1002};
  // Tolerance on OutputComparison::error; empty: by the model's dtype
  // (fp32 1e-4, fp16 1e-2, bf16 4e-2).
  std::optional<double> tolerance = std::nullopt;
};

// The default tolerance for a model dtype (see TransformOptions).
double default_tolerance(DType dtype);

struct TransformedModel {
  Model model;
  std::vector<TransformOutcome> outcomes;  // one per requested transform, in order applied
};

// Applies the requested transforms one after another (attention, MLP,
// align_linear, then the CUDA-graph capture), each
// verified against the model as it was before that transform; one that fails
// is rolled back and reported, never kept. The spec fixes the shapes the
// passes reason about (e.g. head_dim) and the verification inputs. Throws
// InputSpecError when the spec does not fit, OutOfMemoryError, RuntimeError.
TransformedModel apply_transforms(const Model& model, const InputSpec& spec, const TransformOptions& options);

// Runs both models on the same fresh random inputs from `spec`, once per
// seed, and compares every output tensor (see OutputComparison). The
// transformed forward throwing makes a failed Verification (its message in
// `error`), not an exception; the original throwing does (InputSpecError,
// OutOfMemoryError, RuntimeError).
Verification verify_outputs(const Model& original, const Model& transformed, const InputSpec& spec,
                            const std::vector<uint64_t>& seeds, double tolerance);

// Saves the (transformed) model's frozen module as a TorchScript file,
// atomically. It loads again with Model::load wherever mlopt's ops are
// registered, on the same device and in the same dtype (its weights are
// graph constants, which --dtype does not convert). Throws IoError.
void save_model(const Model& model, const std::filesystem::path& file);

}  // namespace mlopt
