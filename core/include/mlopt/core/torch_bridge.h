#pragma once
// The libtorch side of core: the frozen module, tensors and IValues. Only the
// few translation units that need libtorch include this header.
#include <torch/script.h>

#include <filesystem>
#include <functional>
#include <unordered_map>
#include <string>
#include <utility>
#include <vector>

#include "mlopt/core/dtype.h"
#include "mlopt/core/input_spec.h"
#include "mlopt/core/model.h"
#include "mlopt/core/runner.h"
#include "mlopt/core/transforms.h"

namespace mlopt {

// Runs a forward some other way than the interpreter when it can (a
// captured CUDA graph replays for the shapes it was captured at).
class ForwardReplacement {
 public:
  virtual ~ForwardReplacement() = default;
  // Whether `inputs` are what it was built for (shapes, dtypes, devices).
  virtual bool fits(const std::vector<c10::IValue>& inputs) const = 0;
  virtual c10::IValue run(const std::vector<c10::IValue>& inputs) = 0;
  virtual std::string describe() const = 0;
};

struct Model::Impl {
  std::filesystem::path file;
  LoadOptions options;
  torch::jit::Module frozen;  // eval, converted, frozen
  ModelInfo info;
  // Set by the cuda_graphs transform; forward() uses it for inputs it fits
  // and the interpreter otherwise.
  std::shared_ptr<ForwardReplacement> replacement;
};

c10::ScalarType to_scalar_type(DType dtype);
// Throws UsageError for scalar types mlopt does not name (complex, quantized).
DType from_scalar_type(c10::ScalarType type);
c10::Device to_torch_device(const Device& device);
std::string torch_version();

// Converts floating-point parameters and buffers of `module` (and its
// submodules) to `dtype`, leaving integer and bool tensors as they are
// (torch::jit::Module::to(dtype) would turn a bool mask into fp16).
void convert_floating_point(torch::jit::Module& module, c10::ScalarType dtype);

// Random inputs for the model's forward from the spec, on the model's device.
// Throws InputSpecError when the count or the names do not fit the forward.
std::vector<c10::IValue> make_inputs(const Model& model, const InputSpec& spec, uint64_t seed);

// One forward; libtorch errors become InputSpecError / OutOfMemoryError /
// RuntimeError with the backtrace stripped.
c10::IValue forward(const Model& model, std::vector<c10::IValue> inputs);

// Every tensor in a forward's result (tensor, tuple, list, dict, nested),
// named as in OutputInfo.
std::vector<std::pair<std::string, at::Tensor>> flatten_outputs(const c10::IValue& value);
std::vector<OutputInfo> describe_outputs(const c10::IValue& value);

// Times forwards on given inputs; `spec` is recorded in the result.
RunResult run_with_inputs(const Model& model, const std::vector<c10::IValue>& inputs,
                          const InputSpec& spec, const RunOptions& options);

// Message of a libtorch exception without its C++ backtrace.
std::string torch_message(const std::exception& error);
// True when a libtorch message reports an allocation failure on a device.
bool is_out_of_memory(const std::string& torch_message);

// Shapes and dtypes of the tensors a forward graph computes (its inputs and
// the outputs of its top-level nodes) on the optimize spec's inputs.
struct ProbedTensor {
  std::vector<int64_t> shape;
  c10::ScalarType dtype = c10::ScalarType::Float;
};
using ProbedShapes = std::unordered_map<const torch::jit::Value*, ProbedTensor>;

// What a graph rewrite may rely on besides the graph.
struct RewriteContext {
  c10::Device device = c10::Device(c10::DeviceType::CPU);
  // Probed on this very graph before the rewrite; a pass refuses what its
  // kernel cannot run for these shapes (e.g. an unsupported head_dim).
  const ProbedShapes* shapes = nullptr;
  const ProbedTensor* shape_of(const torch::jit::Value* v) const;
};

// Rewrites a frozen forward graph in place and records in the outcome what
// it matched and what it left alone, and why.
using GraphRewrite = std::function<void(torch::jit::Graph& graph, const RewriteContext& context,
                                        TransformOutcome& outcome)>;

// Runs `rewrite` on a clone of `model`'s frozen module, then verifies the
// result against `model` (TransformOptions' seeds and tolerance). When
// something matched and verification passed, `model` becomes the rewritten
// model; otherwise it is left as it was and the outcome says why. The
// built-in transforms run through here, and so can a user's own rewrite.
TransformOutcome apply_graph_rewrite(Model& model, const InputSpec& spec, const TransformOptions& options,
                                     const std::string& name, const GraphRewrite& rewrite);

}  // namespace mlopt
