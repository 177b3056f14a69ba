#include "mlopt/profiler/nvtx_observer.h"

#include <stdexcept>

#include "nvtx_ranges.h"

namespace mlopt::profiler {

std::string NvtxIterationObserver::range_name(int index, bool warmup) {
  return std::string(warmup ? "mlopt/warmup " : "mlopt/iteration ") + std::to_string(index);
}

bool NvtxIterationObserver::available() { return MLOPT_HAVE_NVTX; }

void NvtxIterationObserver::on_iteration_begin(int index, bool warmup) {
  nvtx_push(range_name(index, warmup).c_str());
  ++open_;
}

void NvtxIterationObserver::on_iteration_end(int, bool) {
  // An end without a begin would pop a range some other code pushed.
  if (open_ == 0) throw std::logic_error("NVTX iteration range ended without a begin");
  nvtx_pop();
  --open_;
}

}  // namespace mlopt::profiler
