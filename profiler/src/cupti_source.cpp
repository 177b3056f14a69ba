// The CUPTI activity source: kernels, copies, memsets, runtime and driver API
// calls, synchronisations, external correlation ids and device memory,
// recorded between start() and stop() with CUPTI's asynchronous buffers.
#include <cuda_runtime_api.h>
#include <cupti.h>

#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cupti_records.h"
#include "mlopt/kernels/cuda_check.h"
#include "mlopt/profiler/activity.h"

namespace mlopt::profiler {
namespace {

// CUPTI fills buffers we hand it and hands them back full (or at a flush).
// 8 MiB holds some 30,000 kernel records: a forward of a few hundred kernels
// fits in one, and CUPTI asks for another whenever one fills.
constexpr std::size_t kBufferBytes = std::size_t{8} << 20;
constexpr std::size_t kBufferAlignment = 8;  // CUPTI's ACTIVITY_RECORD_ALIGNMENT

struct Kind {
  CUpti_ActivityKind kind;
  const char* enable_call;  // for error messages
  // Without kernels a trace is useless, so that kind failing fails start();
  // the others are extras a driver or GPU may lack.
  bool required;
  // Recorded on the host when an API call returns (not by the GPU), so it
  // can be switched off before stop() synchronises: that sync is ours, not
  // the user's, and must not show up in the trace.
  bool host_side;
};

#define MLOPT_KIND(kind, required, host_side) Kind{kind, "cuptiActivityEnable(" #kind ")", required, host_side}
// The kernel kind first, so that when it fails nothing else has been enabled.
constexpr Kind kKinds[] = {
    MLOPT_KIND(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, true, false),
    MLOPT_KIND(CUPTI_ACTIVITY_KIND_MEMCPY, false, false),
    MLOPT_KIND(CUPTI_ACTIVITY_KIND_MEMCPY2, false, false),  // peer-to-peer copies
    MLOPT_KIND(CUPTI_ACTIVITY_KIND_MEMSET, false, false),
    MLOPT_KIND(CUPTI_ACTIVITY_KIND_RUNTIME, false, true),
    MLOPT_KIND(CUPTI_ACTIVITY_KIND_DRIVER, false, true),
    MLOPT_KIND(CUPTI_ACTIVITY_KIND_SYNCHRONIZATION, false, true),
    MLOPT_KIND(CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION, false, true),
    MLOPT_KIND(CUPTI_ACTIVITY_KIND_MEMORY2, false, true),
};
#undef MLOPT_KIND

// Bookkeeping calls that libtorch and mlopt make around nearly every op and
// launch (which device, any error?): recording them would multiply the API
// records and the tracing overhead while telling nothing about where time
// goes. The driver ones are what the runtime calls under the hood.
constexpr CUpti_CallbackId kQuietRuntimeCalls[] = {
    CUPTI_RUNTIME_TRACE_CBID_cudaGetDevice_v3020,
    CUPTI_RUNTIME_TRACE_CBID_cudaGetLastError_v3020,
    CUPTI_RUNTIME_TRACE_CBID_cudaPeekAtLastError_v3020,
};
constexpr CUpti_CallbackId kQuietDriverCalls[] = {
    CUPTI_DRIVER_TRACE_CBID_cuCtxGetCurrent,
    CUPTI_DRIVER_TRACE_CBID_cuDevicePrimaryCtxGetState,
    CUPTI_DRIVER_TRACE_CBID_cuKernelGetAttribute,
};

// Runs `step`, keeping the first exception, so that a failing step of a
// shutdown sequence does not skip the steps after it.
template <typename Step>
void attempt(std::exception_ptr& first_error, Step&& step) noexcept {
  try {
    step();
  } catch (...) {
    if (!first_error) first_error = std::current_exception();
  }
}

// The trace being built, shared with CUPTI's callbacks. CUPTI takes plain
// function pointers with no user data, and its buffers are process-wide, so
// there is one collector per process and one source records at a time.
class Collector {
 public:
  static Collector& instance() {
    // Never destroyed: CUPTI's worker thread may still deliver a buffer while
    // static destructors run at exit, and must find the collector alive.
    static Collector* const collector = new Collector;
    return *collector;
  }

  void register_callbacks();
  void begin(const void* owner);
  // Hands over what was recorded since begin() and ends the session; rethrows
  // an error a callback met (callbacks cannot throw into CUPTI).
  ActivityTrace end();
  void add_dropped(std::size_t records);
  void consume(uint8_t* buffer, std::size_t valid_bytes, CUcontext context, uint32_t stream) noexcept;

 private:
  void convert(uint8_t* buffer, std::size_t valid_bytes);

  std::mutex mutex_;  // guards everything below
  bool registered_ = false;
  const void* owner_ = nullptr;  // the recording source, null between sessions
  ActivityTrace trace_;
  detail::RecordConverter converter_;
  std::exception_ptr error_;
};

struct FreeDeleter {
  void operator()(uint8_t* p) const noexcept { std::free(p); }
};

// Runs on the thread whose CUDA call needs buffer space: allocation only.
void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) noexcept {
  // A null buffer makes CUPTI drop records, which it counts: never lost silently.
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(kBufferAlignment, kBufferBytes));
  *size = *buffer ? kBufferBytes : 0;
  *max_records = 0;  // as many as fit
}

// Runs on CUPTI's worker thread, or on the thread calling cuptiActivityFlushAll.
void CUPTIAPI buffer_completed(CUcontext context, uint32_t stream, uint8_t* buffer, size_t /*size*/,
                               size_t valid_bytes) noexcept {
  const std::unique_ptr<uint8_t, FreeDeleter> owned(buffer);
  Collector::instance().consume(buffer, valid_bytes, context, stream);
}

void Collector::register_callbacks() {
  std::lock_guard lock(mutex_);
  if (registered_) return;
  // Linux thread ids (gettid), as perf and Perfetto show them, rather than
  // pthread_self() cut to 32 bits.
  MLOPT_CUPTI_CHECK(cuptiSetThreadIdType(CUPTI_ACTIVITY_THREAD_ID_TYPE_SYSTEM));
  MLOPT_CUPTI_CHECK(cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed));
  registered_ = true;
}

void Collector::begin(const void* owner) {
  std::lock_guard lock(mutex_);
  if (owner_) {
    throw std::logic_error("CUPTI is already recording for another mlopt activity source: stop that one first");
  }
  owner_ = owner;
  trace_ = {};
  error_ = nullptr;
}

ActivityTrace Collector::end() {
  std::lock_guard lock(mutex_);
  ActivityTrace trace = std::exchange(trace_, {});
  owner_ = nullptr;
  if (const std::exception_ptr error = std::exchange(error_, nullptr)) std::rethrow_exception(error);
  return trace;
}

void Collector::add_dropped(std::size_t records) {
  std::lock_guard lock(mutex_);
  trace_.dropped_records += static_cast<int64_t>(records);
}

void Collector::convert(uint8_t* buffer, std::size_t valid_bytes) {
  CUpti_Activity* record = nullptr;
  for (;;) {
    const CUptiResult status = cuptiActivityGetNextRecord(buffer, valid_bytes, &record);
    if (status == CUPTI_ERROR_MAX_LIMIT_REACHED) return;  // the end of the buffer
    if (status == CUPTI_ERROR_INVALID_KIND) {
      // An incomplete record: CUPTI cannot step past it, so the rest of the
      // buffer is lost. Count it rather than pretend nothing was.
      ++trace_.dropped_records;
      return;
    }
    if (status != CUPTI_SUCCESS) detail::throw_cupti_error(status, "cuptiActivityGetNextRecord", __FILE__, __LINE__);
    converter_.append(*record, trace_);
  }
}

void Collector::consume(uint8_t* buffer, std::size_t valid_bytes, CUcontext context, uint32_t stream) noexcept {
  try {
    std::lock_guard lock(mutex_);
    if (!owner_) return;  // no session: nothing of anyone's to keep
    try {
      if (buffer && valid_bytes > 0) convert(buffer, valid_bytes);
      std::size_t dropped = 0;
      MLOPT_CUPTI_CHECK(cuptiActivityGetNumDroppedRecords(context, stream, &dropped));
      trace_.dropped_records += static_cast<int64_t>(dropped);
      ++trace_.buffers_completed;
    } catch (...) {
      if (!error_) error_ = std::current_exception();
    }
  } catch (...) {
    // Only locking can get here (std::system_error): there is nowhere to
    // report it from CUPTI's thread, and throwing into CUPTI would terminate.
  }
}

class CuptiSource final : public ActivitySource {
 public:
  CuptiSource() { Collector::instance().register_callbacks(); }
  ~CuptiSource() override {
    if (!recording_) return;
    try {
      stop();
    } catch (...) {
      // A destructor must not throw; stop() has left CUPTI disabled anyway.
    }
  }
  CuptiSource(const CuptiSource&) = delete;
  CuptiSource& operator=(const CuptiSource&) = delete;

  void start() override;
  ActivityTrace stop() override;
  void push_external_id(uint64_t id) override;
  void pop_external_id() override;
  int64_t now_ns() const override;

 private:
  void enable_kinds();
  static void quiet_bookkeeping_calls(CUpti_ActivityKind kind) noexcept;
  void disable_kinds(bool host_side, std::exception_ptr& first_error) noexcept;

  bool recording_ = false;
  std::vector<const Kind*> enabled_;  // what start() enabled and stop() must disable
  // Kinds CUPTI refused in the last start(), with its answer: the trace has
  // none of their records. Kept for debugging; activity.h exposes no such list.
  std::vector<std::pair<const Kind*, CUptiResult>> unavailable_;
};

void CuptiSource::start() {
  if (recording_) throw std::logic_error("CUPTI activity source: start() called twice without stop()");
  Collector::instance().begin(this);
  try {
    // Reading the dropped count resets it: drops before this session are not its own.
    std::size_t earlier_drops = 0;
    MLOPT_CUPTI_CHECK(cuptiActivityGetNumDroppedRecords(nullptr, 0, &earlier_drops));
    enable_kinds();
  } catch (...) {
    // Leave CUPTI as it was; the error that brought us here is the one to report.
    std::exception_ptr ignored;
    disable_kinds(true, ignored);
    disable_kinds(false, ignored);
    attempt(ignored, [] { Collector::instance().end(); });
    throw;
  }
  recording_ = true;
}

void CuptiSource::enable_kinds() {
  unavailable_.clear();
  for (const Kind& kind : kKinds) {
    const CUptiResult status = cuptiActivityEnable(kind.kind);
    if (status == CUPTI_SUCCESS) {
      enabled_.push_back(&kind);
      quiet_bookkeeping_calls(kind.kind);
      continue;
    }
    // Another tool holding CUPTI is not a missing feature: say so instead of
    // recording a trace that lacks half its kinds.
    if (kind.required || status == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED) {
      detail::throw_cupti_error(status, kind.enable_call, __FILE__, __LINE__);
    }
    unavailable_.emplace_back(&kind, status);
  }
}

// Must follow enabling the kind, which turns every call of its domain back on.
void CuptiSource::quiet_bookkeeping_calls(CUpti_ActivityKind kind) noexcept {
  // Only an optimisation: should CUPTI refuse, the trace is merely longer.
  std::exception_ptr ignored;
  if (kind == CUPTI_ACTIVITY_KIND_RUNTIME) {
    for (const CUpti_CallbackId cbid : kQuietRuntimeCalls) {
      attempt(ignored, [&] { MLOPT_CUPTI_CHECK(cuptiActivityEnableRuntimeApi(cbid, 0)); });
    }
  } else if (kind == CUPTI_ACTIVITY_KIND_DRIVER) {
    for (const CUpti_CallbackId cbid : kQuietDriverCalls) {
      attempt(ignored, [&] { MLOPT_CUPTI_CHECK(cuptiActivityEnableDriverApi(cbid, 0)); });
    }
  }
}

void CuptiSource::disable_kinds(bool host_side, std::exception_ptr& first_error) noexcept {
  // Compacted in place: nothing here may allocate (and so throw).
  std::size_t kept = 0;
  for (const Kind* kind : enabled_) {
    if (kind->host_side != host_side) {
      enabled_[kept++] = kind;
      continue;
    }
    attempt(first_error, [&] { MLOPT_CUPTI_CHECK(cuptiActivityDisable(kind->kind)); });
  }
  enabled_.resize(kept);
}

ActivityTrace CuptiSource::stop() {
  if (!recording_) throw std::logic_error("CUPTI activity source: stop() called without start()");
  recording_ = false;
  // Every step runs even if one before it failed, so CUPTI is left disabled
  // and the next start() begins clean; the first error is thrown at the end.
  std::exception_ptr first_error;
  disable_kinds(true, first_error);
  // Kernel and copy records are complete only once the GPU has finished them.
  attempt(first_error, [] { MLOPT_CUDA_CHECK(cudaDeviceSynchronize()); });
  disable_kinds(false, first_error);
  attempt(first_error, [] { MLOPT_CUPTI_CHECK(cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED)); });
  attempt(first_error, [] {
    std::size_t dropped = 0;
    MLOPT_CUPTI_CHECK(cuptiActivityGetNumDroppedRecords(nullptr, 0, &dropped));
    Collector::instance().add_dropped(dropped);
  });
  ActivityTrace trace;
  attempt(first_error, [&] { trace = Collector::instance().end(); });
  if (first_error) std::rethrow_exception(first_error);
  return trace;
}

// push/pop run around every op: no allocation and no lock unless CUPTI fails.
void CuptiSource::push_external_id(uint64_t id) {
  MLOPT_CUPTI_CHECK(cuptiActivityPushExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, id));
}

void CuptiSource::pop_external_id() {
  uint64_t last = 0;
  MLOPT_CUPTI_CHECK(cuptiActivityPopExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, &last));
}

int64_t CuptiSource::now_ns() const {
  uint64_t t = 0;
  MLOPT_CUPTI_CHECK(cuptiGetTimestamp(&t));
  return static_cast<int64_t>(t);
}

// CUPTI without a driver answers every call with CUPTI_ERROR_UNKNOWN; asking
// the CUDA runtime first gives the user a message that says what is missing.
void require_a_gpu() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // leave no error behind for the caller's next CUDA call
    throw std::runtime_error(std::string("CUPTI tracing needs an NVIDIA GPU and driver, and CUDA found none (") +
                             cudaGetErrorName(status) + ": " + cudaGetErrorString(status) +
                             "): check nvidia-smi and CUDA_VISIBLE_DEVICES, or profile without GPU tracing");
  }
  if (count == 0) {
    throw std::runtime_error(
        "CUPTI tracing needs an NVIDIA GPU, and CUDA sees none: check nvidia-smi and CUDA_VISIBLE_DEVICES, "
        "or profile without GPU tracing");
  }
}

}  // namespace

std::unique_ptr<ActivitySource> make_cupti_source() {
  require_a_gpu();
  return std::make_unique<CuptiSource>();
}

bool cupti_available() { return true; }

}  // namespace mlopt::profiler
