// Builds without CUPTI (MLOPT_WITH_CUDA off, or no CUPTI in the toolkit):
// there is no GPU activity to record, and callers profile the CPU side only.
#include "mlopt/profiler/activity.h"

namespace mlopt::profiler {

std::unique_ptr<ActivitySource> make_cupti_source() { return nullptr; }

bool cupti_available() { return false; }

}  // namespace mlopt::profiler
