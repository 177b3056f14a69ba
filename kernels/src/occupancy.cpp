// The cache behind cached_occupancy (occupancy.h): one entry per device,
// kernel and launch shape, filled on first use under a mutex.
#include "occupancy.h"

#include <cuda_runtime_api.h>

#include <map>
#include <mutex>
#include <tuple>

#include "mlopt/kernels/cuda_check.h"

namespace mlopt::kernels::detail {

Occupancy cached_occupancy(const void* kernel, int threads, std::size_t smem_bytes) {
  using Key = std::tuple<int, const void*, int, std::size_t>;  // device, kernel, threads, shared memory
  static std::mutex mutex;
  static std::map<Key, Occupancy> cache;
  int device = 0;
  MLOPT_CUDA_CHECK(cudaGetDevice(&device));
  const Key key{device, kernel, threads, smem_bytes};
  const std::lock_guard<std::mutex> lock(mutex);
  const auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  constexpr std::size_t kDefaultSmemLimit = 48 * 1024;
  if (smem_bytes > kDefaultSmemLimit) {
    MLOPT_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem_bytes)));
  }
  Occupancy value;
  MLOPT_CUDA_CHECK(cudaDeviceGetAttribute(&value.sm_count, cudaDevAttrMultiProcessorCount, device));
  MLOPT_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&value.blocks_per_sm, kernel, threads, smem_bytes));
  cache.emplace(key, value);
  return value;
}

}  // namespace mlopt::kernels::detail
