#pragma once
// What the CUDA runtime says about the GPUs; no GPU is not an error here.
#include <cstdint>
#include <string>
#include <vector>

namespace mlopt::kernels {

struct DeviceProperties {
  int index = 0;
  std::string name;
  int compute_major = 0, compute_minor = 0;
  int multiprocessors = 0;
  int64_t global_memory_bytes = 0;
  int64_t l2_cache_bytes = 0;
  int64_t shared_memory_per_block_optin = 0;
};

// Visible CUDA devices; 0 when there is no GPU or no driver (CI machines).
int device_count();
// Throws CudaError for an invalid index.
DeviceProperties device_properties(int index);
std::vector<DeviceProperties> all_devices();

}  // namespace mlopt::kernels
