#pragma once
// Launching a kernel in thread-block clusters along the grid's y as a
// programmatic dependent of the stream's previous kernel, and the device
// side of programmatic dependent launch: what mlopt's decode and resident
// MLP kernels share (compute capability 9.0+).
#include <cuda_runtime.h>

#include "mlopt/kernels/cuda_check.h"

namespace mlopt::kernels::cluster_launch {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
// Let the next kernel on the stream launch (once every block of this one
// has said so or left); wait until the previous one has finished and its
// writes are visible.
__device__ __forceinline__ void launch_next_grid() { asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory"); }
__device__ __forceinline__ void wait_for_previous_grid() { asm volatile("griddepcontrol.wait;\n" ::: "memory"); }
#endif

// kernel<<<grid, threads, smem, stream>>>(args...) in clusters of 1 x
// cluster_y x 1 blocks, allowed to start before the previous kernel ends.
template <typename... Args>
void launch_dependent(void (*kernel)(Args...), dim3 grid, int threads, std::size_t smem, unsigned cluster_y,
                      cudaStream_t stream, const Args&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = dim3(static_cast<unsigned>(threads));
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  cudaLaunchAttribute attributes[2]{};
  attributes[0].id = cudaLaunchAttributeClusterDimension;
  attributes[0].val.clusterDim.x = 1;
  attributes[0].val.clusterDim.y = cluster_y;
  attributes[0].val.clusterDim.z = 1;
  attributes[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attributes[1].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attributes;
  config.numAttrs = 2;
  MLOPT_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, args...));
}

}  // namespace mlopt::kernels::cluster_launch
