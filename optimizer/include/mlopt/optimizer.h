#pragma once
// The library's front door: profile a model, apply mlopt's transforms with
// verification, run the result.
//
//   mlopt::Optimizer opt(mlopt::Model::load("gpt2.pt", {.dtype = mlopt::DType::F16, .device = cuda}));
//   auto report = opt.profile(mlopt::InputSpec::parse("ids:int64[8,1024]"));
//   auto optimized = opt.optimize({.flash_attention = true, .fused_mlp = true, .cuda_graphs = true});
//   c10::IValue logits = optimized.forward({ids});
//
// Above core (transforms, runner) and the profiler; libtorch types appear
// only in forward().
#include <torch/script.h>

#include <filesystem>
#include <optional>
#include <vector>

#include "mlopt/core/model.h"
#include "mlopt/core/transforms.h"
#include "mlopt/profiler/profile_result.h"
#include "mlopt/profiler/profiler.h"

namespace mlopt {

struct OptimizeOptions {
  bool flash_attention = false;
  bool fused_mlp = false;
  bool align_linear = false;
  bool cuda_graphs = false;
  // Tensor parallelism arrives with the parallel transforms; 1 is the only
  // size this version runs (anything else is refused, not ignored).
  int tensor_parallel_size = 1;
  std::vector<uint64_t> verify_seeds = {1001, 1002};
  std::optional<double> tolerance = std::nullopt;  // default: by dtype (see TransformOptions)
};

class OptimizedModel {
 public:
  OptimizedModel(Model model, std::vector<TransformOutcome> outcomes);
  const Model& model() const { return model_; }
  // Per requested transform: what matched, what was left alone and why, the
  // verification, whether it was kept.
  const std::vector<TransformOutcome>& outcomes() const { return outcomes_; }
  // One forward (inference mode). With cuda_graphs, inputs of the captured
  // shapes replay the graph and the returned tensors are overwritten by the
  // next forward. Throws as the runner does (InputSpecError, OutOfMemoryError,
  // RuntimeError).
  c10::IValue forward(std::vector<c10::IValue> inputs) const;
  // A TorchScript file that loads wherever mlopt's ops are registered (CUDA
  // graphs are not stored: they are captured at run time).
  void save(const std::filesystem::path& file) const;

 private:
  Model model_;
  std::vector<TransformOutcome> outcomes_;
};

class Optimizer {
 public:
  explicit Optimizer(Model model);
  const Model& model() const { return model_; }

  // Profiles the model as loaded on inputs from `spec`, which later
  // optimize() calls reuse.
  profiler::ProfileResult profile(const InputSpec& spec, const profiler::ProfileOptions& options = {});

  // Applies the chosen transforms for `spec` (or the last profiled spec).
  // Throws UsageError when no spec is known, no transform is chosen, or
  // tensor_parallel_size != 1.
  OptimizedModel optimize(const OptimizeOptions& options);
  OptimizedModel optimize(const OptimizeOptions& options, const InputSpec& spec);

 private:
  Model model_;
  std::optional<InputSpec> spec_;
};

}  // namespace mlopt
