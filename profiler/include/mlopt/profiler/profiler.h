#pragma once
// Profiling a model's forward: per-op CPU time through libtorch's
// RecordFunction, each op attributed to its TorchScript module and graph
// node; on a GPU, CUPTI kernels correlated to the op that launched them;
// memory from the allocators; roofline classification against measured
// ceilings; a ranking of where time goes, with recommendations.
#include <cstdint>
#include <functional>

#include "mlopt/core/error.h"
#include "mlopt/core/input_spec.h"
#include "mlopt/core/model.h"
#include "mlopt/profiler/ceilings.h"
#include "mlopt/profiler/profile_result.h"

namespace mlopt::profiler {

// Thrown by profile() when ProfileOptions::progress asked it to stop.
class Cancelled : public Error {
 public:
  using Error::Error;
};

struct ProfileOptions {
  int warmup = 3;
  int iterations = 10;
  uint64_t seed = 0;
  bool gpu_trace = true;   // CUPTI on CUDA devices; off = CPU-side timing only
  int module_depth = 0;    // module grouping depth; 0 = one level below the repeated blocks
  CeilingsCache* cache = nullptr;  // null: the default cache file
  // Optional. Called on the thread running profile() once before the first
  // forward (done = 0) and after every forward: the un-profiled baseline's
  // warm-up and timed ones, then the traced ones (one more than
  // `iterations`: the first traced forward is not counted). total =
  // warmup + 2 * iterations + 1. Returning false stops the profile at that
  // point, between forwards: profile() throws Cancelled. A GUI uses it for
  // its progress bar and Cancel button.
  std::function<bool(int done, int total)> progress = nullptr;
};

// The number of forwards ProfileOptions::progress counts to.
int progress_total(const ProfileOptions& options);

// Throws InputSpecError, DeviceError, OutOfMemoryError as Runner does,
// mlopt::Error when CUPTI cannot be used (naming what holds it), and
// Cancelled when options.progress returned false.
ProfileResult profile(const Model& model, const InputSpec& spec, const ProfileOptions& options = {});

}  // namespace mlopt::profiler
