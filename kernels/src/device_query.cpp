#include "mlopt/kernels/device_query.h"

#include "mlopt/kernels/cuda_check.h"

namespace mlopt::kernels {

int device_count() {
  int count = 0;
  // No driver or no GPU means zero devices, not a failure: CI has neither.
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error state
    return 0;
  }
  return count;
}

DeviceProperties device_properties(int index) {
  cudaDeviceProp prop{};
  MLOPT_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  DeviceProperties p;
  p.index = index;
  p.name = prop.name;
  p.compute_major = prop.major;
  p.compute_minor = prop.minor;
  p.multiprocessors = prop.multiProcessorCount;
  p.global_memory_bytes = static_cast<int64_t>(prop.totalGlobalMem);
  p.l2_cache_bytes = prop.l2CacheSize;
  p.shared_memory_per_block_optin = static_cast<int64_t>(prop.sharedMemPerBlockOptin);
  return p;
}

std::vector<DeviceProperties> all_devices() {
  std::vector<DeviceProperties> devices;
  for (int i = 0; i < device_count(); ++i) devices.push_back(device_properties(i));
  return devices;
}

}  // namespace mlopt::kernels
