// Naming and describing the tensors in a forward's result.
#include <torch/script.h>

#include "mlopt/core/torch_bridge.h"

namespace mlopt {
namespace {

void flatten(const c10::IValue& value, const std::string& name,
             std::vector<std::pair<std::string, at::Tensor>>& out) {
  if (value.isTensor()) {
    out.emplace_back(name, value.toTensor());
  } else if (value.isTuple()) {
    const auto& elements = value.toTupleRef().elements();
    for (std::size_t i = 0; i < elements.size(); ++i) flatten(elements[i], name + "[" + std::to_string(i) + "]", out);
  } else if (value.isList()) {
    const auto list = value.toList();
    for (std::size_t i = 0; i < list.size(); ++i) flatten(list.get(i), name + "[" + std::to_string(i) + "]", out);
  } else if (value.isGenericDict()) {
    for (const auto& entry : value.toGenericDict()) {
      const auto& key = entry.key();
      const std::string k = key.isString() ? "'" + key.toStringRef() + "'"
                                           : (key.isInt() ? std::to_string(key.toInt()) : std::string("?"));
      flatten(entry.value(), name + "[" + k + "]", out);
    }
  }
  // None, numbers and strings carry no tensor data: nothing to compare.
}

}  // namespace

std::vector<std::pair<std::string, at::Tensor>> flatten_outputs(const c10::IValue& value) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  flatten(value, "output", out);
  return out;
}

std::vector<OutputInfo> describe_outputs(const c10::IValue& value) {
  std::vector<OutputInfo> infos;
  for (const auto& [name, tensor] : flatten_outputs(value)) {
    OutputInfo info;
    info.name = name;
    info.shape = tensor.sizes().vec();
    info.dtype = from_scalar_type(tensor.scalar_type());
    info.all_finite = !tensor.is_floating_point() || tensor.isfinite().all().item<bool>();
    infos.push_back(std::move(info));
  }
  return infos;
}

}  // namespace mlopt
