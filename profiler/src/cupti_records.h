#pragma once
// CUPTI activity records (CUDA 13 struct versions) turned into the plain
// values of activity.h, and the one macro that checks CUPTI calls. Only the
// CUPTI sources include this; nothing outside profiler/src sees CUPTI types.
#include <cupti.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "mlopt/profiler/activity.h"

namespace mlopt::profiler::detail {

// Throws std::runtime_error naming the call and CUPTI's error, with what to do
// for the errors a user can fix (another profiler attached, no GPU or driver).
[[noreturn]] void throw_cupti_error(CUptiResult result, const char* call, const char* file, int line);

// "Memcpy HtoD", "Memcpy DtoH", ... from CUpti_ActivityMemcpyKind.
std::string memcpy_name(uint8_t copy_kind);
// "cudaLaunchKernel" from the runtime or driver callback id: CUPTI's names
// carry a version suffix ("cudaLaunchKernel_v7000"), which users never write.
std::string api_name(bool driver, uint32_t cbid);
// The demangled C++ name, or `mangled` itself when it is not a mangled name
// (extern "C" kernels) or does not demangle.
std::string demangle(const char* mangled);

GpuActivity to_gpu_activity(const CUpti_ActivityKernel10& kernel, std::string name);
GpuActivity to_gpu_activity(const CUpti_ActivityMemcpy6& copy);
GpuActivity to_gpu_activity(const CUpti_ActivityMemcpyPtoP4& copy);
GpuActivity to_gpu_activity(const CUpti_ActivityMemset4& set);
ApiCall to_api_call(const CUpti_ActivityAPI& api);
SyncActivity to_sync_activity(const CUpti_ActivitySynchronization2& sync);
// Only ids we pushed (kind CUSTOM0): other libraries may use other kinds.
std::optional<ExternalCorrelation> to_external_correlation(const CUpti_ActivityExternalCorrelation& record);
// Only device memory (cudaMalloc/cudaFree and pool allocations); pinned host
// memory and the like are not what the caching allocator takes from the GPU.
std::optional<MemoryActivity> to_memory_activity(const CUpti_ActivityMemory4& memory);

// Appends records of the kinds mlopt enables to a trace; others are skipped.
// Keeps demangled kernel names, so a model's few hundred distinct kernels are
// demangled once rather than once per launch. Not thread-safe: the caller
// serialises (bufferCompleted may run on several threads).
class RecordConverter {
 public:
  void append(const CUpti_Activity& record, ActivityTrace& trace);

 private:
  const std::string& kernel_name(const char* mangled);

  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::string, Hash, std::equal_to<>> names_;
};

}  // namespace mlopt::profiler::detail

// Every CUPTI call goes through this; it throws, it never prints or exits.
#define MLOPT_CUPTI_CHECK(call)                                                            \
  do {                                                                                     \
    const CUptiResult mlopt_cupti_status_ = (call);                                        \
    if (mlopt_cupti_status_ != CUPTI_SUCCESS)                                              \
      ::mlopt::profiler::detail::throw_cupti_error(mlopt_cupti_status_, #call, __FILE__, __LINE__); \
  } while (0)
