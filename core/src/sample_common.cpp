// Shared pieces of the sample-model generator: builder, source helpers,
// config checks, presets listing and the atomic save.
#include "sample_common.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/jit/runtime/operator.h>

#include <iomanip>
#include <random>
#include <sstream>
#include <system_error>

#include "mlopt/core/atomic_file.h"
#include "mlopt/core/error.h"
#include "mlopt/core/sample_models.h"
#include "mlopt/core/torch_bridge.h"

namespace mlopt::samples {
namespace detail {

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    out += out.empty() ? item : ", " + item;
  }
  return out;
}

}  // namespace

Slot parameter(std::string name, at::Tensor value) {
  return {Slot::Kind::Parameter, std::move(name), std::move(value), c10::TensorType::get()};
}

Slot buffer(std::string name, at::Tensor value) {
  return {Slot::Kind::Buffer, std::move(name), std::move(value), c10::TensorType::get()};
}

Slot child(std::string name, const torch::jit::Module& module) {
  return {Slot::Kind::Module, std::move(name), module._ivalue(), module.type()};
}

Slot int_value(std::string name, int64_t value) {
  return {Slot::Kind::Value, std::move(name), value, c10::IntType::get()};
}

ModuleBuilder::ModuleBuilder(uint64_t seed)
    : unit_(std::make_shared<torch::jit::CompilationUnit>()),
      generator_(at::detail::createCPUGenerator(seed)) {}

torch::jit::Module ModuleBuilder::make(const std::string& class_name,
                                       const std::vector<Slot>& slots,
                                       const std::string& source) {
  // Submodule types are part of the key: a class is only shared when its
  // children's classes are shared too.
  std::string key = class_name + '\n' + source;
  for (const auto& slot : slots) {
    key += '\n' + std::to_string(static_cast<int>(slot.kind)) + ' ' + slot.name + ' ' +
           slot.type->annotation_str();
  }
  const auto known = classes_.find(key);
  const bool is_new = known == classes_.end();
  auto module = is_new ? torch::jit::Module(
                             c10::QualifiedName("__torch__.mlopt.samples." + class_name), unit_,
                             /*shouldMangle=*/true)
                       : torch::jit::Module(unit_, known->second);
  // On a shared class these calls only check the attribute and set the value.
  for (const auto& slot : slots) {
    switch (slot.kind) {
      case Slot::Kind::Parameter:
        module.register_parameter(slot.name, slot.value.toTensor(), /*is_buffer=*/false);
        break;
      case Slot::Kind::Buffer:
        module.register_buffer(slot.name, slot.value.toTensor());
        break;
      case Slot::Kind::Module:
        module.register_module(slot.name, torch::jit::Module(slot.value.toObject()));
        break;
      case Slot::Kind::Value:
        module.register_attribute(slot.name, slot.type, slot.value);
        break;
    }
  }
  if (is_new) {
    module.define(source);
    classes_.emplace(key, module.type());
  }
  return module;
}

at::Tensor ModuleBuilder::normal(at::IntArrayRef shape, double std) {
  return torch::randn(shape, generator_, torch::kFloat32).mul_(std);
}

at::Tensor ModuleBuilder::near_one(at::IntArrayRef shape, double std) {
  return normal(shape, std).add_(1.0);
}

torch::jit::Module sequential(ModuleBuilder& builder, const std::string& class_name,
                              const std::vector<torch::jit::Module>& blocks,
                              const std::string& extra_args) {
  const std::string args = extra_args.empty() ? "x" : "x, " + extra_args;
  std::string source = "def forward(self, " + args + "):\n";
  std::vector<Slot> slots;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const auto name = std::to_string(i);
    slots.push_back(child(name, blocks[i]));
    source += "    x = getattr(self, \"" + name + "\").forward(" + args + ")\n";
  }
  source += "    return x\n";
  return builder.make(class_name, slots, source);
}

torch::jit::Module embedding(ModuleBuilder& builder, at::Tensor weight) {
  return builder.make("Embedding", {parameter("weight", std::move(weight))},
                      "def forward(self, ids):\n"
                      "    return torch.embedding(self.weight, ids)\n");
}

torch::jit::Module linear(ModuleBuilder& builder, at::Tensor weight) {
  return builder.make("Linear", {parameter("weight", std::move(weight))},
                      "def forward(self, x):\n"
                      "    return torch.linear(x, self.weight)\n");
}

std::string py_float(double value) {
  // The shortest text that reads back as the same double (1e-05, not
  // 1.0000000000000001e-05), so the source stays readable.
  std::string text;
  for (int digits = 6; digits <= 17; ++digits) {
    std::ostringstream out;
    out << std::setprecision(digits) << value;
    text = out.str();
    if (std::stod(text) == value) break;
  }
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
  return text;
}

void require(bool ok, std::string_view what, const std::string& message) {
  if (!ok) throw UsageError("invalid " + std::string(what) + " config: " + message);
}

void require_positive(std::string_view what, const char* name, int64_t value) {
  require(value > 0, what, std::string(name) + " must be positive, got " + std::to_string(value));
}

void require_sdpa(std::string_view what) {
  if (libtorch_has_sdpa()) return;
  throw UsageError("cannot write the " + std::string(what) +
                   " sample with sdpa: this libtorch (" + torch_version() +
                   ") lacks aten::scaled_dot_product_attention, which needs libtorch 2.0 or "
                   "newer; write it without sdpa");
}

void require_floating(DType dtype) {
  if (!is_floating(dtype)) {
    throw UsageError("sample model weights must be floating point (fp32, fp16, bf16, fp64), not " +
                     to_string(dtype));
  }
}

void convert_and_eval(torch::jit::Module& module, DType dtype) {
  if (dtype != DType::F32) convert_floating_point(module, to_scalar_type(dtype));
  module.eval();
}

void save_atomically(const torch::jit::Module& module, const std::filesystem::path& file) {
  write_atomically(file, [&](const std::filesystem::path& temp) { module.save(temp.string()); },
                   /*create_parents=*/true);
}

[[noreturn]] void unknown_preset(std::string_view arch, std::string_view name) {
  throw UsageError("unknown " + std::string(arch) + " preset '" + std::string(name) +
                   "' (known: " + join(presets(arch)) + ")");
}

}  // namespace detail

std::vector<std::string> architectures() { return {"gpt2", "llama"}; }

std::vector<std::string> presets(std::string_view arch) {
  if (arch == "gpt2") return detail::gpt2_preset_names();
  if (arch == "llama") return detail::llama_preset_names();
  throw UsageError("unknown sample architecture '" + std::string(arch) +
                   "' (known: " + detail::join(architectures()) + ")");
}

bool libtorch_has_sdpa() {
  static const bool has = !torch::jit::getAllOperatorsFor(
                               c10::Symbol::fromQualString("aten::scaled_dot_product_attention"))
                               .empty();
  return has;
}

}  // namespace mlopt::samples
