// apply_graph_rewrite: a rewrite on a clone of the current frozen module,
// verified against the model before it, kept or rolled back; and the
// built-in transforms run through it.
#include <torch/script.h>

#include "graph_info.h"
#include "mlopt/core/atomic_file.h"
#include "mlopt/core/error.h"
#include "mlopt/core/torch_bridge.h"
#include "mlopt/core/transforms.h"
#include "passes.h"
#include "rewrite_support.h"
#include "tensor_probe.h"
#if MLOPT_TORCH_CUDA
#include "cuda_graph_forward.h"
#endif

namespace mlopt {

double default_tolerance(DType dtype) {
  switch (dtype) {
    case DType::F16: return 1e-2;
    case DType::BF16: return 4e-2;
    default: return 1e-4;
  }
}

namespace {

std::string first_failure(const Verification& v) {
  if (!v.error.empty()) return v.error;
  for (const auto& o : v.outputs) {
    if (o.passed) continue;
    if (!o.problem.empty()) return o.name + ": " + o.problem;
    std::ostringstream s;
    s << o.name << ": error " << o.error << " > tolerance " << o.tolerance;
    return s.str();
  }
  return "unknown";
}

// The seed of the first verification inputs, which also feed the probe and
// the capture: every transform needs one.
uint64_t first_seed(const TransformOptions& options) {
  if (options.verify_seeds.empty()) throw UsageError("verification needs at least one seed");
  return options.verify_seeds.front();
}

// Verifies `candidate` against `model` and keeps it (model = candidate) or
// records why not.
void verify_and_keep(Model& model, Model candidate, const InputSpec& spec, const TransformOptions& options,
                     TransformOutcome& outcome) {
  const double tolerance = options.tolerance.value_or(default_tolerance(model.info().dtype));
  outcome.verification = verify_outputs(model, candidate, spec, options.verify_seeds, tolerance);
  if (outcome.verification->passed) {
    outcome.applied = true;
    model = std::move(candidate);
  } else {
    outcome.note = "rolled back: verification failed (" + first_failure(*outcome.verification) + ")";
  }
}

GraphRewrite builtin(transforms::PassResult (*pass)(torch::jit::Graph&, const RewriteContext&)) {
  return [pass](torch::jit::Graph& graph, const RewriteContext& context, TransformOutcome& outcome) {
    auto result = pass(graph, context);
    outcome.matched = std::move(result.matched);
    outcome.missed = std::move(result.missed);
  };
}

}  // namespace

TransformOutcome apply_graph_rewrite(Model& model, const InputSpec& spec, const TransformOptions& options,
                                     const std::string& name, const GraphRewrite& rewrite) {
  const uint64_t seed = first_seed(options);
  TransformOutcome outcome;
  outcome.transform = name;
  torch::jit::Module module = model.impl().frozen.clone();
  const auto graph = module.get_method("forward").graph();
  const auto shapes = probe_tensor_shapes(graph, module._ivalue(),
                                          make_inputs(model, spec, seed), spec.to_string());
  RewriteContext context;
  context.device = to_torch_device(model.options().device);
  context.shapes = &shapes;
  rewrite(*graph, context, outcome);
  if (outcome.matched.empty()) {
    outcome.note = "nothing matched";
    return outcome;
  }
  verify_and_keep(model, model_with_module(model, module), spec, options, outcome);
  return outcome;
}

Model model_with_module(const Model& model, const torch::jit::Module& module) {
  auto impl = std::make_shared<Model::Impl>(model.impl());
  impl->frozen = module;
  impl->replacement = nullptr;  // a capture of the old graph does not run the new one
  impl->info.nodes.clear();
  impl->info.inputs.clear();
  describe_forward(impl->frozen, impl->info);
  return Model::from_impl(std::move(impl));
}

namespace {

// The cuda_graphs transform: capture, then verify the replay like a rewrite.
TransformOutcome apply_cuda_graphs(Model& model, const InputSpec& spec, const TransformOptions& options) {
  const uint64_t seed = first_seed(options);
  TransformOutcome outcome;
  outcome.transform = kCudaGraphsTransform;
  const auto miss = [&](const std::string& why) {
    outcome.missed.push_back({"", "forward", why});
    outcome.note = "not applied: " + why;
    return outcome;
  };
  if (model.options().device.kind != DeviceKind::Cuda) return miss("CUDA graphs need a CUDA device (--device cuda)");
#if MLOPT_TORCH_CUDA
  auto impl = std::make_shared<Model::Impl>(model.impl());
  try {
    impl->replacement = capture_cuda_graph(model, make_inputs(model, spec, seed));
  } catch (const RuntimeError& e) {
    return miss(e.what());
  }
  outcome.matched.push_back({"", impl->replacement->describe()});
  verify_and_keep(model, Model::from_impl(std::move(impl)), spec, options, outcome);
#else
  (void)spec;  // no CUDA libtorch: Model::load refused a CUDA device already
  (void)seed;
#endif
  return outcome;
}

}  // namespace

TransformedModel apply_transforms(const Model& model, const InputSpec& spec, const TransformOptions& options) {
  TransformedModel result{model, {}};
  if (options.flash_attention) {
    result.outcomes.push_back(apply_graph_rewrite(result.model, spec, options, kFlashAttentionTransform,
                                                  builtin(&transforms::rewrite_attention)));
  }
  if (options.fused_mlp) {
    result.outcomes.push_back(apply_graph_rewrite(result.model, spec, options, kFusedMlpTransform,
                                                  builtin(&transforms::rewrite_mlp)));
  }
  if (options.align_linear) {
    result.outcomes.push_back(apply_graph_rewrite(result.model, spec, options, kAlignLinearTransform,
                                                  builtin(&transforms::rewrite_align_linear)));
  }
  if (options.cuda_graphs) result.outcomes.push_back(apply_cuda_graphs(result.model, spec, options));
  return result;
}

void save_model(const Model& model, const std::filesystem::path& file) {
  write_atomically(file, [&](const std::filesystem::path& temp) {
    try {
      model.impl().frozen.save(temp.string());
    } catch (const std::exception& e) {
      throw IoError(torch_message(e));
    }
  });
}

}  // namespace mlopt
