#pragma once
// Timing one forward: CUDA events on libtorch's current stream for a GPU,
// a steady clock for the CPU (whose ops finish before they return).
#include <memory>
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

// Implemented in cuda_timer.cpp, built only against a CUDA libtorch.
std::unique_ptr<IterationTimer> make_cuda_timer(int device_index);
std::string cuda_device_name(int device_index);

}  // namespace mlopt
