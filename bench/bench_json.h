#pragma once
// The head every benchmark's JSON starts with: which program, on which
// device, when, and how it timed.
#include <nlohmann/json.hpp>

#include <string>

#include "bench_timing.h"
#include "mlopt/core/environment.h"
#include "mlopt/kernels/device_query.h"

namespace mlopt::bench {

inline nlohmann::json bench_json_head(const std::string& benchmark, const kernels::DeviceProperties& props,
                                      const TimingOptions& timing, bool l2_flush) {
  nlohmann::json doc;
  doc["benchmark"] = benchmark;
  doc["device"] = props.name;
  doc["compute_capability"] = std::to_string(props.compute_major) + "." + std::to_string(props.compute_minor);
  doc["multiprocessors"] = props.multiprocessors;
  doc["date"] = utc_timestamp();
  doc["timing"] = {{"warmup", timing.warmup}, {"iters", timing.iters}, {"statistic", "median"}, {"l2_flush", l2_flush}, {"stream_held_while_enqueueing", true}};
  return doc;
}

}  // namespace mlopt::bench
