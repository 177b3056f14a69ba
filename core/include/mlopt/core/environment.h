#pragma once
// Facts about where mlopt runs, shared by results that record them (runs,
// profiles, measured ceilings): the device's name and the current time.
#include <string>

#include "mlopt/core/dtype.h"

namespace mlopt {

// "NVIDIA H100 80GB HBM3" for a GPU, the CPU's model name for the CPU.
// Result caches are keyed by it, so every caller must get the same text.
std::string device_name(const Device& device);

// CUDA devices this libtorch sees (0 without a driver, a GPU or CUDA
// libtorch).
int cuda_device_count();

// Now, UTC, ISO 8601 ("2026-11-25T04:51:12Z").
std::string utc_timestamp();

}  // namespace mlopt
