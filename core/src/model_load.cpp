// Model::load: read a TorchScript file, convert, move, freeze, describe.
#include <torch/cuda.h>
#include <torch/script.h>

#include <fstream>
#include <unordered_set>

#include "graph_info.h"
#include "load_errors.h"
#include "mlopt/core/environment.h"
#include "mlopt/core/error.h"
#include "mlopt/core/ops.h"
#include "mlopt/core/torch_bridge.h"

namespace mlopt {
namespace {

void check_file(const std::filesystem::path& file) {
  const std::string name = "'" + file.string() + "'";
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    throw ModelLoadError("model file " + name + " does not exist");
  }
  if (std::filesystem::is_directory(file, ec)) {
    throw ModelLoadError(name + " is a directory, not a TorchScript file: give the path of the .pt file that "
                         "torch.jit.save wrote");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ModelLoadError("cannot open " + name + " for reading (check its permissions)");
  char magic[4] = {};
  in.read(magic, 4);
  // Every TorchScript file is a zip archive; anything else is rejected before
  // libtorch sees it, so its message can say what the file is not.
  if (in.gcount() < 4 || magic[0] != 'P' || magic[1] != 'K' || magic[2] != 3 || magic[3] != 4) {
    throw ModelLoadError(name + " is not a TorchScript file (it is " +
                         (in.gcount() == 0 ? std::string("empty") : std::string("not a zip archive")) +
                         "): export the model with torch.jit.script or torch.jit.trace and torch.jit.save");
  }
}

void check_device(const Device& device) {
  if (device.kind != DeviceKind::Cuda) return;
  if (!torch::cuda::is_available()) {
#if MLOPT_TORCH_CUDA
    throw DeviceError("CUDA was requested, but no CUDA GPU is visible (check nvidia-smi and "
                      "CUDA_VISIBLE_DEVICES), or run with --device cpu");
#else
    throw DeviceError("CUDA was requested, but this libtorch (" + torch_version() +
                      ") was built without CUDA: build mlopt against a CUDA libtorch (cmake -DTorch_DIR=..., "
                      "see README), or run with --device cpu");
#endif
  }
  const auto count = static_cast<int>(torch::cuda::device_count());
  if (device.index >= count) {
    throw DeviceError("CUDA device " + std::to_string(device.index) + " was requested, but only " +
                      std::to_string(count) + " GPU(s) are visible");
  }
}

DType dominant_dtype(const torch::jit::Module& module) {
  std::map<c10::ScalarType, int64_t> elements;
  for (const auto& p : module.parameters()) {
    if (p.is_floating_point()) elements[p.scalar_type()] += p.numel();
  }
  // A model mlopt optimized keeps its weights as graph constants.
  if (elements.empty()) {
    for (const auto& t : graph_tensor_constants(module)) {
      if (t.is_floating_point()) elements[t.scalar_type()] += t.numel();
    }
  }
  if (elements.empty()) return DType::F32;
  auto best = std::max_element(elements.begin(), elements.end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; });
  return from_scalar_type(best->first);
}

bool calls_mlopt_ops(const torch::jit::Module& module) {
  for (const auto* node : module.get_method("forward").graph()->nodes()) {
    if (std::string(node->kind().toQualString()).rfind("mlopt::", 0) == 0) return true;
  }
  return false;
}

// An optimized model's weights are graph constants in the dtype it was
// optimized in: converting them is not possible, so say so.
void check_optimized_dtype(const torch::jit::Module& module, const std::filesystem::path& file,
                           const std::optional<DType>& dtype) {
  if (!dtype || !calls_mlopt_ops(module)) return;
  for (const auto& t : graph_tensor_constants(module)) {
    if (t.is_floating_point() && t.scalar_type() != to_scalar_type(*dtype)) {
      throw UsageError("'" + file.string() + "' is a model mlopt optimized in " +
                       to_string(from_scalar_type(t.scalar_type())) +
                       "; its weights cannot be converted to " + to_string(*dtype) +
                       ": load it without --dtype, or optimize the original model in " + to_string(*dtype));
    }
  }
}

}  // namespace

Model::Model(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

const ModelInfo& Model::info() const { return impl_->info; }
const LoadOptions& Model::options() const { return impl_->options; }

Model Model::converted(const LoadOptions& options) const { return load(impl_->file, options); }

Model Model::load(const std::filesystem::path& file, const LoadOptions& options) {
  // Models saved after a transform call mlopt:: ops: they must be registered.
  ops_registered();
  check_file(file);
  check_device(options.device);

  torch::jit::Module module;
  try {
    module = torch::jit::load(file.string(), c10::Device(c10::DeviceType::CPU));
  } catch (const std::exception& e) {
    throw_load_error(file, torch_message(e));
  }
  if (!module.find_method("forward")) {
    throw ModelLoadError("'" + file.string() + "' has no forward method: script the module whose forward you "
                         "want to optimize");
  }
  module.eval();
  check_optimized_dtype(module, file, options.dtype);
  if (options.device.kind == DeviceKind::Cuda && !graph_tensor_constants(module).empty()) {
    try {
      module = torch::jit::load(file.string(), to_torch_device(options.device));
      module.eval();
    } catch (const std::exception& e) {
      throw_load_error(file, torch_message(e));
    }
  }

  auto impl = std::make_shared<Impl>();
  impl->file = file;
  impl->options = options;
  try {
    if (options.dtype) {
      if (!is_floating(*options.dtype)) {
        throw UsageError("a model can be converted to fp32, fp16 or bf16, not " + to_string(*options.dtype));
      }
      convert_floating_point(module, to_scalar_type(*options.dtype));
    }
    module.to(to_torch_device(options.device));
  } catch (const c10::Error& e) {
    const std::string msg = torch_message(e);
    if (is_out_of_memory(msg)) {
      throw OutOfMemoryError("out of memory moving '" + file.string() + "' to " + to_string(options.device) +
                             ": use a smaller dtype (--dtype fp16) or a larger GPU. " + concise_message(msg));
    }
    throw DeviceError("could not move the model to " + to_string(options.device) + ": " + concise_message(msg));
  }

  impl->info.path = file.string();
  impl->info.torch_version = torch_version();
  impl->info.device = options.device;
  impl->info.dtype = dominant_dtype(module);
  impl->info.root = describe_module_tree(module);

  try {
    impl->frozen = torch::jit::freeze(module);
  } catch (const std::exception& e) {
    throw ModelLoadError("could not freeze '" + file.string() + "' for inference: " +
                         concise_message(torch_message(e)));
  }
  describe_forward(impl->frozen, impl->info);
  return Model(std::move(impl));
}

int cuda_device_count() { return torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0; }

}  // namespace mlopt
