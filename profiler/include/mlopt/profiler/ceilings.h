#pragma once
// Measuring a device's ceilings (a large GEMM in the run's dtype, a large
// device-to-device copy, an empty op's latency) and caching them per device,
// dtype and libtorch version in a JSON file, so a profile costs the
// measurement once.
#include <filesystem>
#include <optional>

#include "mlopt/core/dtype.h"
#include "mlopt/profiler/cost_model.h"

namespace mlopt::profiler {

// Runs the measurements now (about a second on a GPU; sizes scaled down on
// the CPU so it stays around a second there too). Throws mlopt::DeviceError
// or OutOfMemoryError.
DeviceCeilings measure_ceilings(const Device& device, DType dtype);

// $MLOPT_CACHE_DIR, else $XDG_CACHE_HOME/mlopt, else ~/.cache/mlopt.
std::filesystem::path default_cache_dir();

class CeilingsCache {
 public:
  explicit CeilingsCache(std::filesystem::path file = default_cache_dir() / "ceilings.json");
  // The entry for this device name, dtype and libtorch version, if cached.
  std::optional<DeviceCeilings> find(const std::string& device_name, DType dtype) const;
  // Adds or replaces the entry and saves the file atomically. A corrupt
  // cache file is replaced, never a reason to fail.
  void store(const DeviceCeilings& ceilings);

 private:
  std::filesystem::path file_;
};

// The cached ceilings, or measured and cached now.
DeviceCeilings ceilings_for(const Device& device, DType dtype, CeilingsCache& cache);

}  // namespace mlopt::profiler
