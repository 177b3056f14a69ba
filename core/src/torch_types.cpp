// Conversions between mlopt's plain types and libtorch's.
#include <torch/script.h>
#include <torch/version.h>

#include <unordered_set>

#include "mlopt/core/error.h"
#include "mlopt/core/torch_bridge.h"

namespace mlopt {

c10::ScalarType to_scalar_type(DType dtype) {
  switch (dtype) {
    case DType::F32: return c10::ScalarType::Float;
    case DType::F16: return c10::ScalarType::Half;
    case DType::BF16: return c10::ScalarType::BFloat16;
    case DType::F64: return c10::ScalarType::Double;
    case DType::I64: return c10::ScalarType::Long;
    case DType::I32: return c10::ScalarType::Int;
    case DType::I16: return c10::ScalarType::Short;
    case DType::I8: return c10::ScalarType::Char;
    case DType::U8: return c10::ScalarType::Byte;
    case DType::Bool: return c10::ScalarType::Bool;
  }
  throw UsageError("unknown dtype");
}

DType from_scalar_type(c10::ScalarType type) {
  switch (type) {
    case c10::ScalarType::Float: return DType::F32;
    case c10::ScalarType::Half: return DType::F16;
    case c10::ScalarType::BFloat16: return DType::BF16;
    case c10::ScalarType::Double: return DType::F64;
    case c10::ScalarType::Long: return DType::I64;
    case c10::ScalarType::Int: return DType::I32;
    case c10::ScalarType::Short: return DType::I16;
    case c10::ScalarType::Char: return DType::I8;
    case c10::ScalarType::Byte: return DType::U8;
    case c10::ScalarType::Bool: return DType::Bool;
    default:
      throw UsageError(std::string("tensors of type ") + c10::toString(type) + " are not supported by mlopt");
  }
}

c10::Device to_torch_device(const Device& device) {
  if (device.kind == DeviceKind::Cpu) return c10::Device(c10::DeviceType::CPU);
  return c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(device.index));
}

std::string torch_version() { return TORCH_VERSION; }

void convert_floating_point(torch::jit::Module& module, c10::ScalarType dtype) {
  // set_data changes the tensor in place, so a tensor shared by two modules
  // (a tied LM head) stays shared; `seen` converts it once.
  std::unordered_set<const c10::TensorImpl*> seen;
  auto convert = [&](at::Tensor tensor) {
    if (!tensor.defined() || !tensor.is_floating_point() || tensor.scalar_type() == dtype) return;
    if (!seen.insert(tensor.unsafeGetTensorImpl()).second) return;
    tensor.set_data(tensor.to(dtype));
  };
  for (const auto& p : module.parameters(/*recurse=*/true)) convert(p);
  for (const auto& b : module.buffers(/*recurse=*/true)) convert(b);
}

std::string torch_message(const std::exception& error) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&error)) {
    return c10_error->what_without_backtrace();
  }
  return error.what();
}

}  // namespace mlopt
