#include "cupti_records.h"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>

namespace mlopt::profiler::detail {
namespace {

// What a user can do about the CUPTI errors that are about their setup, not
// about mlopt; empty for the rest.
std::string hint_for(CUptiResult result) {
  switch (result) {
    case CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED:
      return "GPU tracing is unavailable because another profiling tool already holds CUPTI in this "
             "process (Nsight Systems, Nsight Compute, or the PyTorch profiler): profile with mlopt "
             "without that tool attached, or use that tool's own trace";
    case CUPTI_ERROR_NOT_INITIALIZED:
    case CUPTI_ERROR_INVALID_DEVICE:
    case CUPTI_ERROR_UNKNOWN:
      // Without a driver CUPTI answers CUPTI_ERROR_UNKNOWN to every tracing call.
      return "CUPTI could not start tracing, which usually means there is no usable NVIDIA GPU or "
             "driver: check nvidia-smi and CUDA_VISIBLE_DEVICES";
    case CUPTI_ERROR_NOT_COMPATIBLE:
      return "GPU tracing is unavailable because this CUPTI library does not match the NVIDIA driver: "
             "update the driver, or use the CUPTI of a CUDA version the driver supports";
    case CUPTI_ERROR_INSUFFICIENT_PRIVILEGES:
      return "GPU tracing is unavailable because GPU profiling is restricted to administrators here: "
             "run as root, or have the administrator allow it "
             "(https://developer.nvidia.com/ERR_NVGPUCTRPERM)";
    case CUPTI_ERROR_VIRTUALIZED_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_VIRTUALIZED_DEVICE_INSUFFICIENT_PRIVILEGES:
    case CUPTI_ERROR_CONFIDENTIAL_COMPUTING_NOT_SUPPORTED:
    case CUPTI_ERROR_CMP_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_MIG_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_SLI_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_WSL_DEVICE_NOT_SUPPORTED:
      return "CUPTI tracing is not supported on this GPU configuration: profile on a bare-metal GPU, "
             "or time the model without GPU tracing";
    case CUPTI_ERROR_QUEUE_EMPTY:
      return "CUPTI: an external correlation id was popped that was never pushed";
    default:
      return {};
  }
}

std::string file_name(const char* path) {
  const std::string_view p(path);
  const auto slash = p.find_last_of('/');
  return std::string(slash == std::string_view::npos ? p : p.substr(slash + 1));
}

// True for the "7000" of a "_v7000" version suffix.
bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int64_t ns(uint64_t t) { return static_cast<int64_t>(t); }

const char* sync_kind(CUpti_ActivitySynchronizationType type) {
  switch (type) {
    case CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_EVENT_SYNCHRONIZE: return "event";
    case CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_STREAM_WAIT_EVENT: return "stream-wait-event";
    case CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_STREAM_SYNCHRONIZE: return "stream";
    case CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_CONTEXT_SYNCHRONIZE: return "context";
    default: return "unknown";
  }
}

// Records are laid out by CUPTI in its buffer; the kind says which struct.
template <typename Record>
const Record& as(const CUpti_Activity& record) {
  return *reinterpret_cast<const Record*>(&record);
}

}  // namespace

void throw_cupti_error(CUptiResult result, const char* call, const char* file, int line) {
  const char* name = nullptr;
  if (cuptiGetResultString(result, &name) != CUPTI_SUCCESS || !name) name = "unknown CUPTI error";
  const char* description = nullptr;
  if (cuptiGetErrorMessage(result, &description) != CUPTI_SUCCESS) description = nullptr;
  const std::string hint = hint_for(result);
  std::string message = hint.empty() ? "CUPTI call failed: " : hint + " (";
  message += name;
  if (description && std::string_view(description) != name) message += std::string(": ") + description;
  message += std::string(" in ") + call + " at " + file_name(file) + ":" + std::to_string(line);
  if (!hint.empty()) message += ")";
  throw std::runtime_error(message);
}

std::string memcpy_name(uint8_t copy_kind) {
  switch (copy_kind) {
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOD: return "Memcpy HtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOH: return "Memcpy DtoH";
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOA: return "Memcpy HtoA";
    case CUPTI_ACTIVITY_MEMCPY_KIND_ATOH: return "Memcpy AtoH";
    case CUPTI_ACTIVITY_MEMCPY_KIND_ATOA: return "Memcpy AtoA";
    case CUPTI_ACTIVITY_MEMCPY_KIND_ATOD: return "Memcpy AtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOA: return "Memcpy DtoA";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOD: return "Memcpy DtoD";
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOH: return "Memcpy HtoH";
    case CUPTI_ACTIVITY_MEMCPY_KIND_PTOP: return "Memcpy PtoP";
    default: return "Memcpy";
  }
}

std::string api_name(bool driver, uint32_t cbid) {
  const char* raw = nullptr;
  // A name is cosmetic: an unknown id (a newer driver than these headers)
  // keeps its record under a made-up name rather than losing it.
  const CUptiResult status =
      cuptiGetCallbackName(driver ? CUPTI_CB_DOMAIN_DRIVER_API : CUPTI_CB_DOMAIN_RUNTIME_API, cbid, &raw);
  if (status != CUPTI_SUCCESS || !raw || !*raw) {
    return std::string(driver ? "CUDA driver API " : "CUDA runtime API ") + std::to_string(cbid);
  }
  std::string_view name(raw);
  const auto v = name.rfind("_v");
  if (v != std::string_view::npos && v > 0 && all_digits(name.substr(v + 2))) name = name.substr(0, v);
  return std::string(name);
}

std::string demangle(const char* mangled) {
  if (!mangled || !*mangled) return "<unnamed kernel>";
  if (mangled[0] != '_' || mangled[1] != 'Z') return mangled;
  int status = 0;
  const std::unique_ptr<char, void (*)(void*)> out(abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  return status == 0 && out ? std::string(out.get()) : std::string(mangled);
}

GpuActivity to_gpu_activity(const CUpti_ActivityKernel10& kernel, std::string name) {
  GpuActivity a;
  a.kind = GpuActivityKind::Kernel;
  a.name = std::move(name);
  a.start_ns = ns(kernel.start);
  a.end_ns = ns(kernel.end);
  a.device = static_cast<int>(kernel.deviceId);
  a.stream = kernel.streamId;
  a.correlation_id = kernel.correlationId;
  a.grid[0] = kernel.gridX;
  a.grid[1] = kernel.gridY;
  a.grid[2] = kernel.gridZ;
  a.block[0] = kernel.blockX;
  a.block[1] = kernel.blockY;
  a.block[2] = kernel.blockZ;
  a.registers_per_thread = kernel.registersPerThread;
  a.shared_memory_bytes = kernel.staticSharedMemory + kernel.dynamicSharedMemory;
  return a;
}

GpuActivity to_gpu_activity(const CUpti_ActivityMemcpy6& copy) {
  GpuActivity a;
  a.kind = GpuActivityKind::Memcpy;
  a.name = memcpy_name(copy.copyKind);
  a.start_ns = ns(copy.start);
  a.end_ns = ns(copy.end);
  a.device = static_cast<int>(copy.deviceId);
  a.stream = copy.streamId;
  // correlationId is the driver call's id, which the runtime call that made
  // it shares; fall back on the runtime id should a record lack the first.
  a.correlation_id = copy.correlationId != 0 ? copy.correlationId : copy.runtimeCorrelationId;
  a.bytes = static_cast<int64_t>(copy.bytes);
  return a;
}

GpuActivity to_gpu_activity(const CUpti_ActivityMemcpyPtoP4& copy) {
  GpuActivity a;
  a.kind = GpuActivityKind::Memcpy;
  a.name = memcpy_name(CUPTI_ACTIVITY_MEMCPY_KIND_PTOP);
  a.start_ns = ns(copy.start);
  a.end_ns = ns(copy.end);
  a.device = static_cast<int>(copy.deviceId);
  a.stream = copy.streamId;
  a.correlation_id = copy.correlationId;
  a.bytes = static_cast<int64_t>(copy.bytes);
  return a;
}

GpuActivity to_gpu_activity(const CUpti_ActivityMemset4& set) {
  GpuActivity a;
  a.kind = GpuActivityKind::Memset;
  a.name = "Memset";
  a.start_ns = ns(set.start);
  a.end_ns = ns(set.end);
  a.device = static_cast<int>(set.deviceId);
  a.stream = set.streamId;
  a.correlation_id = set.correlationId;
  a.bytes = static_cast<int64_t>(set.bytes);
  return a;
}

ApiCall to_api_call(const CUpti_ActivityAPI& api) {
  ApiCall c;
  c.driver = api.kind == CUPTI_ACTIVITY_KIND_DRIVER;
  c.name = api_name(c.driver, api.cbid);
  c.start_ns = ns(api.start);
  c.end_ns = ns(api.end);
  c.correlation_id = api.correlationId;
  c.thread = api.threadId;
  return c;
}

SyncActivity to_sync_activity(const CUpti_ActivitySynchronization2& sync) {
  SyncActivity s;
  s.kind = sync_kind(sync.type);
  s.start_ns = ns(sync.start);
  s.end_ns = ns(sync.end);
  // Event and context syncs have no stream: CUPTI marks that with all ones.
  s.stream = sync.streamId == CUPTI_SYNCHRONIZATION_INVALID_VALUE ? 0 : sync.streamId;
  s.correlation_id = sync.correlationId;
  return s;
}

std::optional<ExternalCorrelation> to_external_correlation(const CUpti_ActivityExternalCorrelation& record) {
  if (record.externalKind != CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0) return std::nullopt;
  return ExternalCorrelation{.external_id = record.externalId, .correlation_id = record.correlationId};
}

std::optional<MemoryActivity> to_memory_activity(const CUpti_ActivityMemory4& memory) {
  if (memory.memoryKind != CUPTI_ACTIVITY_MEMORY_KIND_DEVICE) return std::nullopt;
  const auto bytes = static_cast<int64_t>(memory.bytes);
  const int device = static_cast<int>(memory.deviceId);
  switch (memory.memoryOperationType) {
    case CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION:
      return MemoryActivity{.time_ns = ns(memory.timestamp), .bytes = bytes, .device = device};
    case CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE:
      return MemoryActivity{.time_ns = ns(memory.timestamp), .bytes = -bytes, .device = device};
    default:
      return std::nullopt;
  }
}

const std::string& RecordConverter::kernel_name(const char* mangled) {
  const std::string_view key = mangled ? std::string_view(mangled) : std::string_view();
  auto it = names_.find(key);
  if (it == names_.end()) it = names_.emplace(std::string(key), demangle(mangled)).first;
  return it->second;
}

void RecordConverter::append(const CUpti_Activity& record, ActivityTrace& trace) {
  switch (record.kind) {
    case CUPTI_ACTIVITY_KIND_KERNEL:
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: {
      const auto& kernel = as<CUpti_ActivityKernel10>(record);
      trace.gpu.push_back(to_gpu_activity(kernel, kernel_name(kernel.name)));
      break;
    }
    case CUPTI_ACTIVITY_KIND_MEMCPY:
      trace.gpu.push_back(to_gpu_activity(as<CUpti_ActivityMemcpy6>(record)));
      break;
    case CUPTI_ACTIVITY_KIND_MEMCPY2:
      trace.gpu.push_back(to_gpu_activity(as<CUpti_ActivityMemcpyPtoP4>(record)));
      break;
    case CUPTI_ACTIVITY_KIND_MEMSET:
      trace.gpu.push_back(to_gpu_activity(as<CUpti_ActivityMemset4>(record)));
      break;
    case CUPTI_ACTIVITY_KIND_RUNTIME:
    case CUPTI_ACTIVITY_KIND_DRIVER:
      trace.api.push_back(to_api_call(as<CUpti_ActivityAPI>(record)));
      break;
    case CUPTI_ACTIVITY_KIND_SYNCHRONIZATION:
      trace.syncs.push_back(to_sync_activity(as<CUpti_ActivitySynchronization2>(record)));
      break;
    case CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION:
      if (auto c = to_external_correlation(as<CUpti_ActivityExternalCorrelation>(record))) {
        trace.correlations.push_back(*c);
      }
      break;
    case CUPTI_ACTIVITY_KIND_MEMORY2:
      if (auto m = to_memory_activity(as<CUpti_ActivityMemory4>(record))) {
        trace.memory.push_back(*m);
      }
      break;
    default:
      break;  // kinds mlopt does not enable (another CUPTI client's, or new ones)
  }
}

}  // namespace mlopt::profiler::detail
