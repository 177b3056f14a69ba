#pragma once
// Resident-blocks-per-SM answers for persistent and split launches, asked
// of the CUDA runtime once and cached: the planners ask on every call, and
// the answer depends only on the kernel, its launch shape and the device.
#include <cstddef>

namespace mlopt::kernels::detail {

struct Occupancy {
  int sm_count = 0;       // of the current device
  int blocks_per_sm = 0;  // of `kernel` at this block size and dynamic shared memory
};

// For the current device. `kernel` is a __global__ function's address. The
// first call for a (device, kernel, shape) also raises the kernel's dynamic
// shared memory limit to `smem_bytes` where that is over 48 KiB, which its
// launches need too (the limit stays set). Throws CudaError for CUDA
// failures; blocks_per_sm may be 0 where the kernel cannot fit an SM.
Occupancy cached_occupancy(const void* kernel, int threads, std::size_t smem_bytes);

}  // namespace mlopt::kernels::detail
