#pragma once
// mlopt's path for a few dozen to a few hundred tokens (MlpImpl::kCluster):
// both projections on mlopt's tiled tensor-core GEMM (mlp_gemm.cuh: its
// loader, cp.async stage ring, ldmatrix + mma.sync mainloop and fused
// epilogue), with what a small grid needs to fill the GPU and to start
// early:
//
//   - K split across the blocks of a thread-block cluster (the grid's y),
//     so that a projection of few output tiles still has about one block
//     per SM. The blocks' sums meet in distributed shared memory: each warp
//     of the tile has an owner block (warp w: block w % splits), every
//     other block stores that warp's accumulators into the owner's shared
//     memory (16 bytes per lane per store, consecutive across the warp),
//     one cluster barrier, and the owner's warp adds them in rank order
//     and runs the epilogue as an unsplit tile would. No partial sums in
//     global memory, no reduction kernel (mlopt's other split GEMM,
//     kFused's, has both).
//   - Programmatic dependent launch, as the decode kernels chain: the up
//     projection lets the down projection launch as soon as its own blocks
//     are past their wait; the down projection's blocks request their first
//     stages of weights (no kernel writes them) and only then wait for h.
//
// Tiles of 128 tokens (fewer are zero rows), 8 warps; the up projection
// 128 packed columns (gated: 64 features' gate and up), the down
// projection 64 features, both in 110.6 KB of stages, so that two blocks
// fit an SM: a down block beside an up block, or two of one projection.
//
// Needs compute capability 9.0 (clusters, griddepcontrol); mlp_launch.cpp
// checks the device before it launches.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "cluster_sync.cuh"
#include "mlopt/kernels/cuda_check.h"
#include "mlp_dispatch.h"
#include "mlp_gemm.cuh"

namespace mlopt::kernels::mlp_cluster {

using mlp_detail::GemmArgs;
using mlp_gemm::Accumulators;
using mlp_gemm::TileCoord;

// 128 tokens x 128 packed columns, warps 2 x 4 of 64 x 32, K steps of 64,
// 3 stages; two blocks per SM (at most 128 registers per thread).
using UpConfig = mlp_gemm::TileConfig<128, 128, 32, 2, 4, 5, 2>;
// 128 tokens x 64 features, warps 4 x 2 of 32 x 32, K steps of 64, 4
// stages. Narrower than the up tiles because the down projection has
// fewer features (GPT-2 small: 768, 12 tiles) and the most K to split.
using DownConfig = mlp_gemm::TileConfig<128, 64, 64, 4, 2, 4, 2>;

constexpr int kMaxSplits = mlp_detail::kClusterMaxSplits;

template <class Cfg>
constexpr int kWarps = Cfg::kThreads / 32;
// float4 accumulators per thread: (mi, ni) pairs.
template <class Cfg>
constexpr int kQuads = Cfg::kMI * Cfg::kNI;
// Warps each block owns with K split `splits` ways (warp w: block w % splits).
template <class Cfg>
__host__ __device__ constexpr int owned_warps(int splits) {
  return (kWarps<Cfg> + splits - 1) / splits;
}
// The reduction's inbox: [rank][owned warp][quad][lane] float4, every
// block's sums of the warps this block owns (its own slot stays unused).
template <class Cfg>
__host__ __device__ constexpr int inbox_bytes(int splits) {
  return splits < 2 ? 0 : splits * owned_warps<Cfg>(splits) * kQuads<Cfg> * 32 * 16;
}
template <class Cfg, WeightLayout kLayout>
constexpr int smem_bytes(int splits) {
  return std::max(Cfg::template smem_bytes<kLayout>(), inbox_bytes<Cfg>(splits));
}
template <class Cfg, WeightLayout kLayout>
constexpr int most_smem_bytes() {
  int most = 0;
  for (int s = 1; s <= kMaxSplits; ++s) most = std::max(most, smem_bytes<Cfg, kLayout>(s));
  return most;
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

// L2 prefetch of what the tile's epilogue reads besides its sums (the
// residual's segments of the tile's rows, the bias of its features), from
// the cluster's first block, so that the epilogue's loads (mlp_gemm.cuh:
// one round trip per m16 tile) find them in L2. L2 is coherent: safe
// before the wait for the kernel that may write them.
template <class Cfg, bool kGated>
__device__ __forceinline__ void prefetch_epilogue(const GemmArgs& g, const TileCoord& t) {
  static_assert(Cfg::kThreads >= Cfg::kBlockM + 2, "a thread per row, two for the bias");
  const mlp_detail::Epilogue& e = g.epilogue;
  constexpr int kFeatures = kGated ? Cfg::kTileN / 2 : Cfg::kTileN;
  const int len = min(kFeatures, g.n - t.f0);  // a multiple of 8: whole 16-byte pieces
  const int i = static_cast<int>(threadIdx.x);
  if (len <= 0 || blockIdx.y != 0) return;
  if (e.residual != nullptr && i < Cfg::kBlockM && t.m0 + i < g.m) {
    cluster_sync::prefetch_l2(static_cast<const uint16_t*>(e.residual) + static_cast<int64_t>(t.m0 + i) * g.n + t.f0,
                              len * 2);
  }
  if (e.bias == nullptr || i < Cfg::kBlockM || i > Cfg::kBlockM + 1) return;
  const auto* bias = static_cast<const uint16_t*>(e.bias);
  if (!kGated) {
    if (i == Cfg::kBlockM) cluster_sync::prefetch_l2(bias + t.f0, len * 2);
  } else if (e.packing == GateUpPacking::kInterleaved) {
    if (i == Cfg::kBlockM) cluster_sync::prefetch_l2(bias + 2 * static_cast<int64_t>(t.f0), len * 4);
  } else {
    cluster_sync::prefetch_l2(bias + (i == Cfg::kBlockM ? t.f0 : g.n + t.f0), len * 2);
  }
}

// K split over the cluster: the sums of each warp of the tile meet in its
// owner block (warp w: block w % splits). Returns whether this block owns
// the calling warp, whose acc then holds the whole sums.
template <class Cfg>
__device__ __forceinline__ bool cluster_sum(const GemmArgs& g, Accumulators<Cfg>& acc) {
  extern __shared__ __align__(128) unsigned char smem[];
  const int splits = g.splits, rank = static_cast<int>(blockIdx.y);
  // Every block of the cluster is done reading its stages (the inbox
  // reuses their memory), and has started: peers may write it now.
  cluster_sync::cluster_arrive_release();
  cluster_sync::cluster_wait();
  auto* const inbox = reinterpret_cast<float4*>(smem);
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int owner = warp % splits, slot = warp / splits, owned = owned_warps<Cfg>(splits);
  constexpr int kQ = kQuads<Cfg>;
  const auto at = [&](int from, int q) { return inbox + ((from * owned + slot) * kQ + q) * 32 + lane; };
  if (owner != rank) {
#pragma unroll
    for (int mi = 0; mi < Cfg::kMI; ++mi)
#pragma unroll
      for (int ni = 0; ni < Cfg::kNI; ++ni) {
        const float* c = acc.c[mi][ni];
        cluster_sync::store_to_peer(at(rank, mi * Cfg::kNI + ni), owner, make_float4(c[0], c[1], c[2], c[3]));
      }
  }
  cluster_sync::cluster_arrive_release();
  cluster_sync::cluster_wait();
  if (owner != rank) return false;
  // The sums in rank order, this block's own in its place: the same order
  // whichever block owns the warp.
#pragma unroll
  for (int mi = 0; mi < Cfg::kMI; ++mi)
#pragma unroll
    for (int ni = 0; ni < Cfg::kNI; ++ni) {
      float* c = acc.c[mi][ni];
      float4 s = rank == 0 ? make_float4(c[0], c[1], c[2], c[3]) : *at(0, mi * Cfg::kNI + ni);
      for (int from = 1; from < splits; ++from) {
        cluster_sync::add_to(s, from == rank ? make_float4(c[0], c[1], c[2], c[3]) : *at(from, mi * Cfg::kNI + ni));
      }
      c[0] = s.x;
      c[1] = s.y;
      c[2] = s.z;
      c[3] = s.w;
    }
  return true;
}

// One projection. kDown: the down projection (weights before the wait);
// otherwise the up projection, which waits before it reads anything and
// then lets the down projection launch.
template <class Cfg, typename Element, WeightLayout kLayout, bool kGated, bool kDown>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocks) mlp_cluster_kernel(const GemmArgs g) {
  extern __shared__ __align__(128) unsigned char smem[];
  const int splits = g.splits, rank = static_cast<int>(blockIdx.y);  // the grid's y is one cluster
  const TileCoord t = mlp_gemm::tile_coord<Cfg, kGated>(g, static_cast<int>(blockIdx.x), rank);
  prefetch_epilogue<Cfg, kGated>(g, t);
  if constexpr (!kDown) {
    cluster_sync::wait_for_previous_grid();
    cluster_sync::launch_next_grid();
  }
  Accumulators<Cfg> acc;
  mlp_gemm::zero(acc);
  mlp_gemm::mainloop_sm80<Cfg, Element, kLayout, kGated, kDown>(g, t, smem, acc);
  if constexpr (kDown) cluster_sync::launch_next_grid();

  if (splits > 1 && !cluster_sum(g, acc)) return;  // another block finishes this warp's sums
  mlp_gemm::epilogue<Cfg, Element, kGated, true>(g, t, acc);
}

#else

template <class Cfg, typename Element, WeightLayout kLayout, bool kGated, bool kDown>
__global__ void mlp_cluster_kernel(const GemmArgs) {}

#endif

// ---- host -------------------------------------------------------------------

template <class Cfg, typename Element, WeightLayout kLayout, bool kGated, bool kDown>
void launch(const GemmArgs& g, cudaStream_t stream) {
  constexpr int kMostSmem = most_smem_bytes<Cfg, kLayout>();
  auto* kernel = &mlp_cluster_kernel<Cfg, Element, kLayout, kGated, kDown>;
  const int64_t tiles = mlp_gemm::output_tiles<Cfg, kGated>(g);
  if (tiles > INT_MAX || g.splits < 1 || g.splits > kMaxSplits) {
    throw std::invalid_argument("mlp: the cluster GEMM's grid " + std::to_string(tiles) + " x " +
                                std::to_string(g.splits) + " exceeds its limits");
  }
  if (kMostSmem > 48 * 1024) {
    MLOPT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kMostSmem));
  }
  // All of L1 as shared memory: a down block (111 KB) fits beside an up
  // block (97 KB) only then; with the carveout the driver picks for two up
  // blocks (196 KB), the down projection's blocks started only once the
  // up projection's had left (timeline, H100, 2026-12-06).
  MLOPT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                        static_cast<int>(cudaSharedmemCarveoutMaxShared)));
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(g.splits));
  config.blockDim = dim3(Cfg::kThreads);
  config.dynamicSmemBytes = smem_bytes<Cfg, kLayout>(g.splits);
  config.stream = stream;
  cudaLaunchAttribute attributes[2]{};
  attributes[0].id = cudaLaunchAttributeClusterDimension;
  attributes[0].val.clusterDim.x = 1;
  attributes[0].val.clusterDim.y = static_cast<unsigned>(g.splits);
  attributes[0].val.clusterDim.z = 1;
  attributes[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attributes[1].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attributes;
  config.numAttrs = 2;
  MLOPT_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, g));
}

// Both projections: the up projection (gated or not) into h, then the down
// projection from h.
template <typename Element, WeightLayout kLayout>
void run_cluster_typed(const GemmArgs& up, const GemmArgs& down, cudaStream_t stream) {
  if (down.epilogue.gated) throw std::invalid_argument("mlp: the cluster GEMM's down projection is plain");
  up.epilogue.gated ? launch<UpConfig, Element, kLayout, true, false>(up, stream)
                    : launch<UpConfig, Element, kLayout, false, false>(up, stream);
  launch<DownConfig, Element, kLayout, false, true>(down, stream);
}

}  // namespace mlopt::kernels::mlp_cluster
