#pragma once
// Where one call's GPU time goes: its kernels as CUPTI records them. The
// event-timed latency of a short call includes launch gaps and the ramp of
// each kernel; this says how much of it is kernels, and which.
#include <cuda_runtime_api.h>

#include <functional>
#include <string>
#include <vector>

#include "bench_timing.h"

namespace mlopt::bench {

struct KernelTime {
  std::string name;  // demangled, cut to 100 characters
  double median_us = 0;
};

struct KernelBreakdown {
  std::vector<KernelTime> kernels;  // in launch order, per call (median over the traced calls)
  double kernel_sum_us = 0;         // median over calls of the summed kernel durations
  double span_us = 0;               // median over calls of first kernel start -> last kernel end
  std::string error;                // set when nothing could be traced (no CUPTI, CUPTI busy)
};

// Traces `calls` calls of `launch` on `stream`, each after an L2 flush
// (when `flusher` is given) and a marker memset that separates the calls in
// the trace. Synchronises the stream.
KernelBreakdown kernel_breakdown(cudaStream_t stream, const std::function<void()>& launch, L2Flusher* flusher,
                                 int calls = 7);

}  // namespace mlopt::bench
