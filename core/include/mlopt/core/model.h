#pragma once
// Model: a TorchScript file loaded (torch::jit::load), converted to a dtype,
// moved to a device, put in eval mode and frozen. Its description is a plain
// ModelInfo; the libtorch module itself is reached through torch_bridge.h.
#include <cstdint>
#include <filesystem>
#include <memory>

#include "mlopt/core/dtype.h"
#include "mlopt/core/input_spec.h"
#include "mlopt/core/model_info.h"

namespace mlopt {

struct LoadOptions {
  // Floating-point parameters and buffers are converted to this type;
  // integer and bool buffers (masks, position ids) are left alone.
  // std::nullopt keeps the file's types.
  std::optional<DType> dtype;
  Device device;
};

class Model {
 public:
  // Throws ModelLoadError (not a TorchScript file, truncated, a directory,
  // operators this libtorch lacks), DeviceError, OutOfMemoryError.
  static Model load(const std::filesystem::path& file, const LoadOptions& options = {});

  const ModelInfo& info() const;
  const LoadOptions& options() const;

  // The same file loaded again with other options (dtype, device).
  Model converted(const LoadOptions& options) const;

  // Runs forward once on inputs drawn from the spec and records the shape
  // and dtype of every tensor computed by a top-level node. Throws
  // InputSpecError when the spec does not fit the forward.
  ModelInfo analyze(const InputSpec& spec, uint64_t seed = 0) const;

  struct Impl;
  const Impl& impl() const { return *impl_; }
  // A model around an Impl built elsewhere in core (a transformed graph).
  static Model from_impl(std::shared_ptr<Impl> impl) { return Model(std::move(impl)); }

 private:
  explicit Model(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace mlopt
