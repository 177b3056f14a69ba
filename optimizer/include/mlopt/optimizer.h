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
#include <memory>
#include <optional>
#include <vector>

#include "mlopt/core/model.h"
#include "mlopt/core/tensor_parallel.h"
#include "mlopt/parallel/nccl.h"
#include "mlopt/core/transforms.h"
#include "mlopt/profiler/profile_result.h"
#include "mlopt/profiler/profiler.h"

namespace mlopt {

struct OptimizeOptions {
  bool flash_attention = false;
  bool fused_mlp = false;
  bool align_linear = false;
  bool cuda_graphs = false;
  // > 1: Megatron-style tensor parallelism over this many ranks (attention
  // heads and MLP features split, one all-reduce per block): threads on the
  // CPU, one GPU per rank (NCCL) on CUDA. Runs the attention and MLP
  // transforms whatever the flags above say (they recognise the blocks).
  // Not combined with cuda_graphs.
  int tensor_parallel_size = 1;
  // With tensor_parallel_size > 1: Megatron sequence parallelism (norms and
  // residual adds on seq / N tokens, reduce-scatter + all-gather instead of
  // each all-reduce).
  bool sequence_parallel = false;
  // > 1: ring attention over this many ranks instead: the sequence split
  // (zigzag for causal models), weights replicated, key/value blocks passed
  // round the ring in every attention block; for sequences whose
  // activations do not fit one GPU. Not combined with tensor parallelism.
  int ring_attention_size = 1;
  std::vector<uint64_t> verify_seeds = {1001, 1002};
  std::optional<double> tolerance = std::nullopt;  // default: by dtype (see TransformOptions)
};

class OptimizedModel {
 public:
  OptimizedModel(Model model, std::vector<TransformOutcome> outcomes);
  // A tensor-parallel or ring-attention model (model() is rank 0's); `outcomes` in the order
  // the transforms ran.
  OptimizedModel(std::shared_ptr<const TensorParallelModel> tensor_parallel, std::vector<TransformOutcome> outcomes);
  const Model& model() const { return model_; }
  // Per requested transform: what matched, what was left alone and why, the
  // verification, whether it was kept.
  const std::vector<TransformOutcome>& outcomes() const { return outcomes_; }
  // The plan when tensor_parallel_size > 1, else null.
  const TensorParallelPlan* tensor_parallel_plan() const;
  // One forward (inference mode). With cuda_graphs, inputs of the captured
  // shapes replay the graph and the returned tensors are overwritten by the
  // next forward. Tensor-parallel: every rank runs (threads, or one GPU each
  // over NCCL) and rank 0's result is returned. Throws as the runner does
  // (InputSpecError, OutOfMemoryError, RuntimeError).
  c10::IValue forward(std::vector<c10::IValue> inputs) const;
  // A TorchScript file that loads wherever mlopt's ops are registered (CUDA
  // graphs are not stored: they are captured at run time). Throws UsageError
  // for a tensor-parallel model (shard again after loading).
  void save(const std::filesystem::path& file) const;

 private:
  Model model_;
  std::vector<TransformOutcome> outcomes_;
  std::shared_ptr<const TensorParallelModel> tensor_parallel_;
  std::shared_ptr<parallel::NcclGroup> nccl_;  // created with the model, reused by every forward
};

class Optimizer {
 public:
  explicit Optimizer(Model model);
  const Model& model() const { return model_; }

  // Profiles the model as loaded on inputs from `spec`, which later
  // optimize() calls reuse.
  profiler::ProfileResult profile(const InputSpec& spec, const profiler::ProfileOptions& options = {});

  // Applies the chosen transforms for `spec` (or the last profiled spec).
  // Throws UsageError when no spec is known, no transform is chosen,
  // tensor_parallel_size < 1, or it asks for more GPUs than there are.
  OptimizedModel optimize(const OptimizeOptions& options);
  OptimizedModel optimize(const OptimizeOptions& options, const InputSpec& spec);

 private:
  Model model_;
  std::optional<InputSpec> spec_;
};

}  // namespace mlopt
