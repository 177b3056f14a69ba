#pragma once
// GPU activity as plain values, and the interface of whatever records it.
// The CUPTI implementation (make_cupti_source below) fills these on a GPU machine;
// tests build them by hand, so correlation, aggregation and ranking are
// tested on machines without a GPU. No CUDA, CUPTI or libtorch types here.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mlopt::profiler {

enum class GpuActivityKind { Kernel, Memcpy, Memset };

// One kernel, copy or memset that ran on a GPU. Times are in the trace
// clock's nanoseconds (ActivitySource::now_ns).
struct GpuActivity {
  GpuActivityKind kind = GpuActivityKind::Kernel;
  std::string name;         // kernel name (demangled), "Memcpy HtoD", "Memset"
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  int device = 0;
  uint32_t stream = 0;
  uint32_t correlation_id = 0;  // links to the API call that launched it
  int64_t bytes = 0;            // memcpy/memset size; 0 for kernels
  // Kernels only: launch configuration and resources.
  int32_t grid[3] = {0, 0, 0};
  int32_t block[3] = {0, 0, 0};
  int32_t registers_per_thread = 0;
  int32_t shared_memory_bytes = 0;  // static + dynamic
};

// A CUDA runtime or driver API call on a host thread.
struct ApiCall {
  std::string name;  // "cudaLaunchKernel", "cuLaunchKernelEx", "cudaStreamSynchronize", ...
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  uint32_t correlation_id = 0;
  uint64_t thread = 0;
  bool driver = false;
};

// A device/stream/event synchronisation (the wait itself).
struct SyncActivity {
  std::string kind;  // "stream", "event", "context", "stream-wait-event"
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  uint32_t stream = 0;
  uint32_t correlation_id = 0;
};

// CUPTI's record of an external id (ours: an op's id) that was on top of the
// external-correlation stack when the API call `correlation_id` was made.
struct ExternalCorrelation {
  uint64_t external_id = 0;
  uint32_t correlation_id = 0;
};

// Device memory allocated or freed by cudaMalloc/cudaFree (CUPTI memory
// activity): what the caching allocator takes from and gives back to the driver.
struct MemoryActivity {
  int64_t time_ns = 0;
  int64_t bytes = 0;  // > 0 allocation, < 0 release
  int device = 0;
};

struct ActivityTrace {
  std::vector<GpuActivity> gpu;
  std::vector<ApiCall> api;
  std::vector<SyncActivity> syncs;
  std::vector<ExternalCorrelation> correlations;
  std::vector<MemoryActivity> memory;
  int64_t dropped_records = 0;  // records CUPTI had no buffer space for: never silently ignored
  int64_t buffers_completed = 0;
};

// Records GPU activity between start() and stop(). Implementations must be
// cheap while recording: push/pop run around every op.
class ActivitySource {
 public:
  virtual ~ActivitySource() = default;
  virtual void start() = 0;
  // Flushes every buffer and returns what was recorded since start().
  virtual ActivityTrace stop() = 0;
  // The external-correlation stack: the id on top is attached to every CUDA
  // API call the calling thread makes (as the PyTorch profiler does).
  virtual void push_external_id(uint64_t id) = 0;
  virtual void pop_external_id() = 0;
  // The clock GpuActivity times are in, in nanoseconds; host-side events
  // are stamped with it too, so CPU ops and kernels share one time axis.
  virtual int64_t now_ns() const = 0;
};

// The CUPTI-backed source (nullptr when this build has no CUPTI). Throws
// std::runtime_error with CUPTI's message when CUPTI cannot be initialised
// (e.g. another profiler such as Nsight Systems holds it).
std::unique_ptr<ActivitySource> make_cupti_source();
bool cupti_available();

}  // namespace mlopt::profiler
