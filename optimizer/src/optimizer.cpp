#include "mlopt/optimizer.h"

#include "mlopt/core/error.h"
#include "mlopt/core/torch_bridge.h"

namespace mlopt {

OptimizedModel::OptimizedModel(Model model, std::vector<TransformOutcome> outcomes)
    : model_(std::move(model)), outcomes_(std::move(outcomes)) {}

c10::IValue OptimizedModel::forward(std::vector<c10::IValue> inputs) const {
  return mlopt::forward(model_, std::move(inputs));
}

void OptimizedModel::save(const std::filesystem::path& file) const { save_model(model_, file); }

Optimizer::Optimizer(Model model) : model_(std::move(model)) {}

profiler::ProfileResult Optimizer::profile(const InputSpec& spec, const profiler::ProfileOptions& options) {
  auto result = profiler::profile(model_, spec, options);
  spec_ = spec;
  return result;
}

OptimizedModel Optimizer::optimize(const OptimizeOptions& options) {
  if (!spec_) {
    throw UsageError("Optimizer::optimize needs an input spec: call profile(spec) first or optimize(options, spec)");
  }
  return optimize(options, *spec_);
}

OptimizedModel Optimizer::optimize(const OptimizeOptions& options, const InputSpec& spec) {
  if (options.tensor_parallel_size != 1) {
    throw UsageError("tensor_parallel_size " + std::to_string(options.tensor_parallel_size) +
                     ": this version of mlopt runs on one GPU (tensor parallelism is not available yet)");
  }
  if (!options.flash_attention && !options.fused_mlp && !options.align_linear && !options.cuda_graphs) {
    throw UsageError("Optimizer::optimize: choose at least one transform");
  }
  TransformOptions t;
  t.flash_attention = options.flash_attention;
  t.fused_mlp = options.fused_mlp;
  t.align_linear = options.align_linear;
  t.cuda_graphs = options.cuda_graphs;
  t.verify_seeds = options.verify_seeds;
  t.tolerance = options.tolerance;
  auto result = apply_transforms(model_, spec, t);
  spec_ = spec;
  return OptimizedModel(std::move(result.model), std::move(result.outcomes));
}

}  // namespace mlopt
