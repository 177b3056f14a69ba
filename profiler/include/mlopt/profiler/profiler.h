#pragma once
// Profiling a model's forward: per-op CPU time through libtorch's
// RecordFunction, each op attributed to its TorchScript module and graph
// node; on a GPU, CUPTI kernels correlated to the op that launched them;
// memory from the allocators; roofline classification against measured
// ceilings; a ranking of where time goes, with recommendations.
#include <cstdint>

#include "mlopt/core/input_spec.h"
#include "mlopt/core/model.h"
#include "mlopt/profiler/ceilings.h"
#include "mlopt/profiler/profile_result.h"

namespace mlopt::profiler {

struct ProfileOptions {
  int warmup = 3;
  int iterations = 10;
  uint64_t seed = 0;
  bool gpu_trace = true;   // CUPTI on CUDA devices; off = CPU-side timing only
  int module_depth = 0;    // module grouping depth; 0 = one level below the repeated blocks
  CeilingsCache* cache = nullptr;  // null: the default cache file
};

// Throws InputSpecError, DeviceError, OutOfMemoryError as Runner does, and
// mlopt::Error when CUPTI cannot be used (naming what holds it).
ProfileResult profile(const Model& model, const InputSpec& spec, const ProfileOptions& options = {});

}  // namespace mlopt::profiler
