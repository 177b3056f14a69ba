#pragma once
// Device helpers of the kernels that chain through programmatic dependent
// launch and sum over a thread-block cluster in distributed shared memory
// (mlp_decode.cuh, mlp_cluster.cuh), and their L2 prefetch. They need compute capability 9.0; on
// older targets they are not defined, and those kernels compile empty
// (their launchers check the device first).
#include <cuda_runtime.h>

#include <cstdint>

namespace mlopt::kernels::cluster_sync {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

// Programmatic dependent launch: let the next kernel on the stream launch;
// wait until the previous one has finished and its writes are visible.
__device__ __forceinline__ void launch_next_grid() { asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory"); }
__device__ __forceinline__ void wait_for_previous_grid() { asm volatile("griddepcontrol.wait;\n" ::: "memory"); }

// Cluster barrier halves: arrive (relaxed: orders nothing; release: this
// thread's shared-memory accesses, peers' included, are ordered before
// what those that wait do next) and wait (acquire).
__device__ __forceinline__ void cluster_arrive_relaxed() { asm volatile("barrier.cluster.arrive.relaxed.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void cluster_arrive_release() { asm volatile("barrier.cluster.arrive.release.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void cluster_wait() { asm volatile("barrier.cluster.wait.aligned;\n" ::: "memory"); }

// 16 bytes into block `rank`'s shared memory at the offset of `local` in
// this block's (distributed shared memory).
__device__ __forceinline__ void store_to_peer(const float4* local, int rank, const float4& v) {
  uint32_t peer;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n"
               : "=r"(peer)
               : "r"(static_cast<uint32_t>(__cvta_generic_to_shared(local))), "r"(rank));
  asm volatile("st.shared::cluster.v4.f32 [%0], {%1, %2, %3, %4};\n" ::"r"(peer), "f"(v.x), "f"(v.y), "f"(v.z), "f"(v.w)
               : "memory");
}

// Asks L2 for `bytes` (a multiple of 16, from a 16-byte aligned address).
__device__ __forceinline__ void prefetch_l2(const void* p, uint32_t bytes) {
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(p), "r"(bytes) : "memory");
}

__device__ __forceinline__ void add_to(float4& a, const float4& b) {
  a.x += b.x;
  a.y += b.y;
  a.z += b.z;
  a.w += b.w;
}

#endif

}  // namespace mlopt::kernels::cluster_sync
