#pragma once
// Marks each warm-up and timed iteration of a run as an NVTX range
// ("mlopt/warmup 0", "mlopt/iteration 3"), so that an Nsight Systems capture
// of `mlopt run` shows where each iteration starts and ends. Without a tool
// attached, NVTX calls cost a few nanoseconds and do nothing.
#include <string>

#include "mlopt/core/runner.h"

namespace mlopt::profiler {

class NvtxIterationObserver final : public RunObserver {
 public:
  void on_iteration_begin(int index, bool warmup) override;
  void on_iteration_end(int index, bool warmup) override;

  // Ranges opened and not yet closed (0 after a complete run).
  int open_ranges() const { return open_; }
  // True when this build has NVTX (the CUDA toolkit's header-only NVTX 3).
  static bool available();
  static std::string range_name(int index, bool warmup);

 private:
  int open_ = 0;
};

}  // namespace mlopt::profiler
