#pragma once
// Helpers shared by the sample-model builders (sample_gpt2.cpp,
// sample_llama.cpp): a builder that owns one compilation unit and one seeded
// generator, TorchScript source helpers, config checks and the atomic save.
#include <torch/script.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mlopt/core/dtype.h"

namespace mlopt::samples::detail {

// One attribute of a module under construction: a parameter, a buffer, a
// submodule or a plain value (e.g. an int that freezing turns into a constant).
struct Slot {
  enum class Kind { Parameter, Buffer, Module, Value };
  Kind kind;
  std::string name;
  c10::IValue value;
  c10::TypePtr type;
};
Slot parameter(std::string name, at::Tensor value);
Slot buffer(std::string name, at::Tensor value);
Slot child(std::string name, const torch::jit::Module& module);
Slot int_value(std::string name, int64_t value);

// Creates the modules of one sample model. All classes live in one
// compilation unit, and all weights come from one generator, so that a seed
// fixes every value.
class ModuleBuilder {
 public:
  explicit ModuleBuilder(uint64_t seed);

  // A module of class __torch__.mlopt.samples.<class_name> holding `slots`,
  // with the methods in `source` (TorchScript). Modules with the same class
  // name, source and slot types share one class, as torch.jit.script shares
  // the class of identical submodules: 22 equal layers are one class in the
  // file, compiled once on load. Classes that differ under one name are
  // mangled apart (___torch_mangle_N), as TorchScript does.
  torch::jit::Module make(const std::string& class_name, const std::vector<Slot>& slots,
                          const std::string& source);

  // Weights: N(0, std) drawn from the seeded generator, in fp32 on the CPU.
  at::Tensor normal(at::IntArrayRef shape, double std);
  // Norm weights: 1 + N(0, std). Not exactly ones (nor biases exactly zero):
  // freezing pools equal constants, so identical tensors in different
  // modules would show up in the frozen graph under one name, which never
  // happens with trained weights.
  at::Tensor near_one(at::IntArrayRef shape, double std);

 private:
  std::shared_ptr<torch::jit::CompilationUnit> unit_;
  at::Generator generator_;
  std::map<std::string, c10::ClassTypePtr> classes_;  // by class name, source, slot types
};

// A module with `blocks` as children "0", "1", ... and a forward that calls
// them in order, each on the previous one's result, so that module paths
// read like HF's (`transformer.h.0.attn`): TorchScript source cannot write
// `self.0`, but getattr with a literal name compiles to the same
// prim::GetAttr. `extra_args` are passed unchanged to every block (e.g.
// "cos, sin").
torch::jit::Module sequential(ModuleBuilder& builder, const std::string& class_name,
                              const std::vector<torch::jit::Module>& blocks,
                              const std::string& extra_args = "");

// Leaf modules both architectures use, computed as torch.nn's are:
// aten::embedding, and aten::linear with a [out, in] weight and no bias.
torch::jit::Module embedding(ModuleBuilder& builder, at::Tensor weight);
torch::jit::Module linear(ModuleBuilder& builder, at::Tensor weight);

// A float literal for TorchScript source: the shortest text that reads back
// as the same double, always with a '.' or exponent ("8.0", never "8").
std::string py_float(double value);

// Throws UsageError("invalid <what> config: <message>") unless `ok`.
void require(bool ok, std::string_view what, const std::string& message);
// The same for a size that must be positive ("layers must be positive, got 0").
void require_positive(std::string_view what, const char* name, int64_t value);
// Throws UsageError unless this libtorch has aten::scaled_dot_product_attention.
void require_sdpa(std::string_view what);
// Throws UsageError unless dtype is floating point (checked before building,
// which takes seconds for the large presets).
void require_floating(DType dtype);

// Converts floating-point weights to dtype (bool and integer buffers stay)
// and sets eval mode.
void convert_and_eval(torch::jit::Module& module, DType dtype);
// Saves to a temp file beside `file` and renames it over `file`, so a reader
// never sees half a model; creates missing parent directories. IoError.
void save_atomically(const torch::jit::Module& module, const std::filesystem::path& file);

// The presets each architecture file knows, in the order users see them.
std::vector<std::string> gpt2_preset_names();
std::vector<std::string> llama_preset_names();
// UsageError for an unknown preset, listing the known ones.
[[noreturn]] void unknown_preset(std::string_view arch, std::string_view name);

}  // namespace mlopt::samples::detail
