#pragma once
// ProfileResult: where one model's forward spends its time and memory, and
// what to do about it. A plain value: stored in project files, drawn by the
// workbench, exported as JSON and as a Chrome/Perfetto trace.
#include <cstdint>
#include <string>
#include <vector>

#include "mlopt/core/dtype.h"
#include "mlopt/core/input_spec.h"
#include "mlopt/profiler/activity.h"
#include "mlopt/profiler/cost_model.h"

namespace mlopt::profiler {

// Categories of time, in the order reports list them.
inline constexpr const char* kAttention = "attention";
inline constexpr const char* kMlp = "mlp";
inline constexpr const char* kNorm = "norm";
inline constexpr const char* kElementwise = "elementwise";
inline constexpr const char* kEmbedding = "embedding/lm_head";
inline constexpr const char* kCommunication = "communication";
inline constexpr const char* kOther = "other";
// GPU: time no kernel ran (launch overhead, host work, syncs).
// CPU: interpreter time outside any op.
inline constexpr const char* kIdle = "idle/launch overhead";

// One op call as RecordFunction saw it, in the trace clock.
struct OpEvent {
  uint64_t id = 0;          // unique in the profile; the external correlation id given to CUPTI
  uint64_t parent = 0;      // enclosing op's id (0: called by the interpreter itself)
  std::string name;         // "aten::addmm"
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  uint64_t thread = 0;
  int depth = 0;            // 0 for ops the TorchScript interpreter calls directly
  int iteration = 0;
  std::string module_path;  // "transformer.h.3.attn" ("" = the root module)
  int node_index = -1;      // into ModelInfo::nodes; -1 when not matched
  std::vector<TensorArg> inputs;
  OpCost cost;
};

struct MemorySample {
  int64_t time_ns = 0;
  int64_t allocated_bytes = 0;  // tensors alive
  int64_t reserved_bytes = 0;   // held by the caching allocator (GPU); = allocated on the CPU
};

// Per op kind and module, per iteration (times are means over the profiled iterations).
struct OpSummary {
  std::string name;
  std::string module_path;
  int node_index = -1;
  std::string category;
  double calls = 0;           // per iteration
  double cpu_total_us = 0;    // wall time inside the op, children included
  double cpu_self_us = 0;     // minus the time in child ops
  double gpu_us = 0;          // its kernels' time
  int kernels = 0;            // GPU activities (kernels, copies, memsets) per iteration
  OpCost cost;                // per iteration
  Roofline roofline;          // against GPU time on a GPU, CPU self time on the CPU
  std::vector<std::vector<int64_t>> input_shapes;  // of the first call
};

struct KernelSummary {
  std::string name;
  std::string op;            // the op that launched it ("" when uncorrelated)
  std::string module_path;
  std::string category;
  double calls = 0;          // per iteration
  double gpu_us = 0;         // per iteration
  OpCost cost;               // its op's cost shared out by kernel time
  Roofline roofline;
};

struct CategoryTime {
  std::string category;
  double time_us = 0;        // per iteration
  double share = 0;          // of the iteration
  Bound bound = Bound::Unknown;  // of most of its time
  double potential_saving_us = 0;
};

struct ModuleTime {
  std::string module_path;   // blocks at the depth asked for (e.g. transformer.h.3.attn)
  double time_us = 0;
  double share = 0;
  Bound bound = Bound::Unknown;   // of most of its ops' time
  double potential_saving_us = 0; // its ops' time above their roofline floor at a realistic efficiency
};

struct Recommendation {
  std::string transform;     // "flash_attention", "fused_mlp", "cuda_graphs", "tensor_parallel", "ring_attention"
  std::string reason;        // one sentence, with the numbers behind it
  double expected_saving_us = 0;  // per iteration
  double expected_speedup = 1;    // iteration time before / after
  std::vector<std::string> modules;  // where it applies
};

struct ProfileResult {
  std::string model_path;
  InputSpec spec;
  Device device;
  std::string device_name;
  DType dtype = DType::F32;
  int warmup = 0;
  int iterations = 0;

  double iteration_us = 0;             // median profiled iteration
  double mean_iteration_us = 0;        // mean profiled iteration: what the categories add up to
  double unprofiled_iteration_us = 0;  // median without the profiler
  double overhead = 0;                 // iteration_us / unprofiled - 1
  double gpu_busy_us = 0;              // per iteration: time some kernel was running

  DeviceCeilings ceilings;
  std::vector<CategoryTime> categories;  // adds up to iteration_us
  std::vector<ModuleTime> modules;
  std::vector<OpSummary> ops;            // by time, descending
  std::vector<KernelSummary> kernels;    // by time, descending
  std::vector<Recommendation> recommendations;

  // Trust in the GPU path.
  int64_t dropped_records = 0;
  double correlated_kernel_share = 0;  // of kernel time attributed to an op
  double attributed_op_share = 0;      // of top-level op time attributed to a module

  int64_t peak_memory_bytes = 0;
  std::vector<MemorySample> memory;     // over the last profiled iteration

  // The last profiled iteration's raw events, for the trace.
  std::vector<OpEvent> trace_ops;
  ActivityTrace trace_gpu;
  std::vector<std::pair<int64_t, int64_t>> iteration_spans_ns;  // [start, end) of each profiled iteration
};

}  // namespace mlopt::profiler
