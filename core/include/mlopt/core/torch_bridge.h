#pragma once
// The libtorch side of core: the frozen module, tensors and IValues. Only the
// few translation units that need libtorch include this header.
#include <torch/script.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "mlopt/core/dtype.h"
#include "mlopt/core/input_spec.h"
#include "mlopt/core/model.h"
#include "mlopt/core/runner.h"

namespace mlopt {

struct Model::Impl {
  std::filesystem::path file;
  LoadOptions options;
  torch::jit::Module frozen;  // eval, converted, frozen
  ModelInfo info;
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

}  // namespace mlopt
