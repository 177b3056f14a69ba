#pragma once
// From raw events to a ranking: attribution of ops to graph nodes,
// correlation of kernels to ops, time per category and module, roofline per
// op and kernel, recommendations. Pure functions of plain values, so they are
// tested with hand-made or recorded events on machines without a GPU.
#include <string>
#include <utility>
#include <vector>

#include "mlopt/core/model_info.h"
#include "mlopt/profiler/profile_result.h"

namespace mlopt::profiler {

struct AnalysisInput {
  const ModelInfo* model = nullptr;
  bool gpu = false;                 // the forward ran on a GPU and `trace` holds its kernels
  DeviceCeilings ceilings;
  std::vector<OpEvent> events;      // every profiled iteration
  ActivityTrace trace;              // GPU activity over the profiled iterations
  std::vector<std::pair<int64_t, int64_t>> iteration_spans;  // [start, end) per profiled iteration
  int module_depth = 0;             // 0: one level below the model's repeated blocks
  int visible_devices = 1;          // GPUs this process can use (for parallelism advice)
  int device = 0;                   // the profiled GPU: kernels on others (other ranks') are left out
};

// Fills everything in `out` that the events determine: categories, modules,
// ops, kernels, recommendations, gpu_busy_us, correlated_kernel_share,
// attributed_op_share, and the last iteration's trace events.
void analyze_profile(AnalysisInput input, ProfileResult& out);

// The category of a top-level op from its kind and the module it ran in.
std::string category_of(const std::string& op, const std::string& module_path);

// Assigns each top-level event the ModelInfo node it executed (the k-th op of
// that kind in that module, per iteration) and gives nested events their
// root's module. Returns the share of top-level op time with a module.
double attribute_events(std::vector<OpEvent>& events, const ModelInfo& model);

// The module grouping depth when asked for 0: one below the first list of
// numbered blocks ("transformer.h.3" -> 4, grouping by "transformer.h.3.attn").
int default_module_depth(const ModelInfo& model);

}  // namespace mlopt::profiler
