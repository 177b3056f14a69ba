// Random inputs for a model's forward, drawn from an InputSpec.
#include <torch/script.h>

#include <ATen/CPUGeneratorImpl.h>

#include "mlopt/core/error.h"
#include "mlopt/core/torch_bridge.h"

namespace mlopt {
namespace {

std::string signature(const ModelInfo& info) {
  std::string s = "forward(";
  for (std::size_t i = 0; i < info.inputs.size(); ++i) {
    s += (i ? ", " : "") + info.inputs[i].name + ": " + info.inputs[i].type;
  }
  return s + ")";
}

// Spec entries in the order of the forward's arguments: named entries go to
// their argument, unnamed ones fill the remaining places in order.
std::vector<const TensorSpec*> match_arguments(const ModelInfo& info, const InputSpec& spec) {
  const auto& args = info.inputs;
  std::size_t required = 0;
  for (const auto& a : args) required += a.has_default ? 0 : 1;
  if (spec.tensors.size() < required || spec.tensors.size() > args.size()) {
    throw InputSpecError("the model's " + signature(info) + " takes " +
                         (required == args.size() ? std::to_string(args.size())
                                                  : std::to_string(required) + " to " + std::to_string(args.size())) +
                         " input(s), but the spec '" + spec.to_string() + "' gives " +
                         std::to_string(spec.tensors.size()));
  }
  std::vector<const TensorSpec*> placed(args.size(), nullptr);
  for (const auto& t : spec.tensors) {
    if (t.name.empty()) continue;
    auto it = std::find_if(args.begin(), args.end(), [&](const ArgumentInfo& a) { return a.name == t.name; });
    if (it == args.end()) {
      throw InputSpecError("the spec names an input '" + t.name + "', but the model's " + signature(info) +
                           " has no such argument");
    }
    placed[static_cast<std::size_t>(it - args.begin())] = &t;
  }
  std::size_t next = 0;
  for (const auto& t : spec.tensors) {
    if (!t.name.empty()) continue;
    while (next < placed.size() && placed[next]) ++next;
    placed[next] = &t;
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (!placed[i] && !args[i].has_default) {
      throw InputSpecError("the spec gives no value for '" + args[i].name + "' of the model's " + signature(info));
    }
    if (placed[i] && args[i].type != "Tensor" && args[i].type != "Optional[Tensor]") {
      throw InputSpecError("argument '" + args[i].name + "' of the model's " + signature(info) + " is " +
                           args[i].type + "; an input spec only builds tensors");
    }
  }
  // Trailing defaulted arguments without a spec entry are left out.
  while (!placed.empty() && !placed.back()) placed.pop_back();
  for (const auto* p : placed) {
    if (!p) throw InputSpecError("the spec leaves a gap before later inputs of the model's " + signature(info));
  }
  return placed;
}

at::Tensor draw(const TensorSpec& t, const ArgumentInfo& arg, at::Generator& gen) {
  const auto options = torch::TensorOptions().dtype(to_scalar_type(t.dtype));
  if (is_floating(t.dtype)) {
    if (t.low) return at::empty(t.shape, options).uniform_(*t.low, *t.high, gen);
    return at::empty(t.shape, options).normal_(0.0, 1.0, gen);
  }
  int64_t low = 0, high = 100;
  if (t.low) {
    low = static_cast<int64_t>(std::ceil(*t.low));
    high = static_cast<int64_t>(std::ceil(*t.high));
  } else if (t.dtype == DType::Bool) {
    high = 2;
  } else if (arg.embedding_rows) {
    high = *arg.embedding_rows;
  }
  if (low >= high) throw InputSpecError("input '" + arg.name + "' has an empty integer range");
  return at::randint(low, high, t.shape, gen, torch::TensorOptions().dtype(at::kLong)).to(to_scalar_type(t.dtype));
}

}  // namespace

std::vector<c10::IValue> make_inputs(const Model& model, const InputSpec& spec, uint64_t seed) {
  const auto& info = model.info();
  const auto placed = match_arguments(info, spec);
  // Drawn on the CPU from one seeded generator so that a seed gives the same
  // inputs on every device.
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const auto device = to_torch_device(model.options().device);
  std::vector<c10::IValue> inputs;
  for (std::size_t i = 0; i < placed.size(); ++i) {
    inputs.emplace_back(draw(*placed[i], info.inputs[i], gen).to(device));
  }
  return inputs;
}

}  // namespace mlopt
