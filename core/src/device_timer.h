#pragma once
// Timing one forward: CUDA events on libtorch's current stream for a GPU,
// a steady clock for the CPU (whose ops finish before they return).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "mlopt/core/dtype.h"

namespace mlopt {

class IterationTimer {
 public:
  virtual ~IterationTimer() = default;
  virtual std::string name() const = 0;
  virtual void start() = 0;
  // Ends the interval, waits for the device to reach it, returns milliseconds.
  virtual double stop_ms() = 0;
};

std::unique_ptr<IterationTimer> make_iteration_timer(const Device& device);

// Peak bytes the forward allocated over an interval. On CUDA the caching
// allocator's own statistics (reset at begin(), read at peak_bytes()); the
// CPU allocator keeps none, so there it is empty. Neither disturbs a
// profiler's memory reporting (that goes through c10's reporting hooks).
class PeakMemory {
 public:
  virtual ~PeakMemory() = default;
  virtual void begin() = 0;
  virtual std::optional<int64_t> peak_bytes() = 0;
};

std::unique_ptr<PeakMemory> make_peak_memory(const Device& device);
// Implemented in cuda_memory.cpp, built only against a CUDA libtorch.
std::unique_ptr<PeakMemory> make_cuda_peak_memory(int device_index);

// Implemented in cuda_timer.cpp, built only against a CUDA libtorch.
std::unique_ptr<IterationTimer> make_cuda_timer(int device_index);
std::string cuda_device_name(int device_index);

}  // namespace mlopt
