#pragma once
// mlopt's tensor-core GEMM for the MLP block, with the MLP epilogue fused:
// out[m, n] = epilogue(a[m, k] . w^T), where a holds token rows and w the
// weights of n output features (gated: 2n, packed gate/up). Pieces, composed
// by a thin kernel:
//
//   TileConfig            tile sizes, warp layout, shared-memory layout
//   tile coordinates      blockIdx.x -> (token tile, feature tile), grouped so
//                         that blocks running together share A and W tiles in
//                         L2; blockIdx.y -> the split of K
//   Loader                global -> shared with cp.async (16-byte pieces,
//                         zero-filled past the ends), one stage per K step
//   mainloop_sm80         a kStages-deep cp.async pipeline; ldmatrix and
//                         mma.sync m16n8k16 (fp32 accumulators in registers)
//   epilogue              bias, activation or act(gate) * up, residual,
//                         rounded once and stored (gated tiles through
//                         shared memory, plain ones from registers); or fp32
//                         partial sums when K is split (mlp_reduce.cuh
//                         reduces them)
//
// Gated tiles hold gate and up weights of the same features, arranged so that
// each thread's accumulators include both sums of the features it stores:
// the [tokens, d_ff] gate and up projections never leave registers.
//
// mma.sync runs on sm_80 and newer. A Hopper mainloop (wgmma from shared
// memory, TMA loads into the same stage ring, a producer warp and consumer
// warpgroups) goes beside mainloop_sm80 with its own TileConfig; a wgmma
// accumulator holds the same m16n8 fragment layout per warp, so the epilogue
// stays as it is, and run_gemm picks the mainloop by compute capability.
//
// One (dtype, layout) per .cu file (mlp_gemm_{fp16,bf16}_{out_in,in_out}.cu)
// so builds parallelise; mlp_gemm_plan.cu plans and dispatches.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "mlopt/kernels/cuda_check.h"
#include "mlp_activation.cuh"
#include "mlp_dispatch.h"
#include "mlp_reduce.cuh"
#include "mma_sm80.cuh"

namespace mlopt::kernels::mlp_gemm {

using mlp_detail::Convert;
using mlp_detail::Epilogue;
using mlp_detail::GemmArgs;

template <int kBlockM_, int kTileN_, int kBlockK_, int kWarpsM_, int kWarpsN_, int kStages_, int kMinBlocks_>
struct TileConfig {
  static constexpr int kBlockM = kBlockM_;  // token rows per block
  static constexpr int kTileN = kTileN_;    // weight features (packed columns) per block
  static constexpr int kBlockK = kBlockK_;  // K per pipeline stage
  static constexpr int kWarpsM = kWarpsM_;
  static constexpr int kWarpsN = kWarpsN_;
  static constexpr int kStages = kStages_;
  static constexpr int kMinBlocks = kMinBlocks_;  // blocks per SM the config is sized for
  static constexpr int kThreads = kWarpsM * kWarpsN * 32;
  static constexpr int kWarpM = kBlockM / kWarpsM;
  static constexpr int kWarpN = kTileN / kWarpsN;
  static constexpr int kMI = kWarpM / 16;  // m16 tiles per warp
  static constexpr int kNI = kWarpN / 8;   // n8 tiles per warp
  static_assert(kWarpM % 16 == 0 && kWarpN % 16 == 0, "whole m16 tiles and pairs of n8 tiles per warp");
  static_assert(kBlockK % 16 == 0, "k16 steps");
  // A gated warp tile is half gate, half up features (concatenated packing);
  // each half must span whole 16-byte pieces of an [in, out] weight row.
  static_assert((kWarpN / 2) % 8 == 0, "whole 16-byte pieces per gate/up half");

  // Leading dimensions (elements), padded by 16 bytes so that the row pitch
  // is an odd number of 16-byte units: the 8 rows one ldmatrix reads then
  // start in 8 distinct 16-byte bank groups (no conflicts, no swizzle).
  static constexpr int kLdA = kBlockK + 8;
  static constexpr int kLdWOutIn = kBlockK + 8;  // [feature][k]
  static constexpr int kLdWInOut = kTileN + 8;   // [k][feature]
  static_assert((kLdA * 2 / 16) % 2 == 1 && (kLdWInOut * 2 / 16) % 2 == 1, "conflict-free ldmatrix rows");

  static constexpr int kStageA = kBlockM * kLdA;  // elements per stage
  template <WeightLayout kLayout>
  __host__ __device__ static constexpr int stage_w() {
    return kLayout == WeightLayout::kOutIn ? kTileN * kLdWOutIn : kBlockK * kLdWInOut;
  }
  template <WeightLayout kLayout>
  __host__ __device__ static constexpr int smem_bytes() {
    return kStages * (kStageA + stage_w<kLayout>()) * 2;
  }
};

// Large: 128 tokens x 128 features (gated: 128 gate + 128 up columns), 8
// warps of 64 x 64 columns (plain: 64 x 32), 4 stages of K = 32: the usual
// sm80 GEMM shape. Gated: 120 KB of shared memory and 128 fp32 accumulators
// per thread (~200 registers) make it one block per SM; plain tiles are half
// as wide, so two blocks fit.
template <bool kGated>
struct ConfigFor;
template <>
struct ConfigFor<true> {
  using type = TileConfig<128, 256, 32, 2, 4, 4, 1>;
};
template <>
struct ConfigFor<false> {
  using type = TileConfig<128, 128, 32, 2, 4, 4, 2>;
};

// Blocks of kGroupM token tiles walk the feature tiles together, so the
// blocks resident at one time share a few A row panels and W column panels
// (both stay in L2) instead of each streaming the whole weight.
constexpr int kGroupM = 8;

// PTX wrappers: mma_sm80.cuh.
using sm80::cp_async_16;
using sm80::cp_async_commit;
using sm80::cp_async_wait;
using sm80::ldmatrix_x4;
using sm80::ldmatrix_x4_trans;
using sm80::mma_16816;
using sm80::smem_address;

// ---- tile coordinates -----------------------------------------------------

struct TileCoord {
  int m0;      // first token row
  int f0;      // first output feature
  int k_begin;  // first K element of this split
  int k_end;    // one past its last (<= k)
  int k_tiles;  // K steps of this split
  int split;    // which split of K (its slice of the partial sums)
};

// Output tiles (token tiles x feature tiles) of the GEMM: the grid's x, and
// what the split planner spreads over the SMs.
template <class Cfg, bool kGated>
__host__ __device__ __forceinline__ int64_t output_tiles(const GemmArgs& g) {
  constexpr int kFeatures = kGated ? Cfg::kTileN / 2 : Cfg::kTileN;
  return int64_t{(g.m + Cfg::kBlockM - 1) / Cfg::kBlockM} * ((g.n + kFeatures - 1) / kFeatures);
}

// Output tile `pid` (0 .. output_tiles - 1) and split `split` of K.
template <class Cfg, bool kGated>
__device__ __forceinline__ TileCoord tile_coord(const GemmArgs& g, int pid, int split) {
  constexpr int kFeatures = kGated ? Cfg::kTileN / 2 : Cfg::kTileN;
  const int tiles_m = (g.m + Cfg::kBlockM - 1) / Cfg::kBlockM;
  const int tiles_n = (g.n + kFeatures - 1) / kFeatures;
  const int in_group = kGroupM * tiles_n;
  const int first_m = (pid / in_group) * kGroupM;
  const int group_m = min(tiles_m - first_m, kGroupM);
  const int tile_m = first_m + (pid % in_group) % group_m;
  const int tile_n = (pid % in_group) / group_m;
  TileCoord t;
  t.m0 = tile_m * Cfg::kBlockM;
  t.f0 = tile_n * kFeatures;
  t.split = split;
  const int first_tile = split * g.k_tiles_per_split;
  t.k_begin = first_tile * Cfg::kBlockK;
  t.k_end = min(g.k, t.k_begin + g.k_tiles_per_split * Cfg::kBlockK);
  t.k_tiles = t.k_end > t.k_begin ? (t.k_end - t.k_begin + Cfg::kBlockK - 1) / Cfg::kBlockK : 0;
  return t;
}

// Which weight feature (row of an [out, in] weight, column of an [in, out]
// one) sits at tile column p, and whether it exists. Gated concatenated
// tiles give warp column group w the gate features [f0 + w h, f0 + (w+1) h)
// in its first h columns and the matching up features (n further on) in
// its next h, h = kWarpN / 2; interleaved ones take the packed columns
// [2 f0, 2 f0 + kTileN) as they are (gate and up alternate).
template <class Cfg, bool kGated>
__device__ __forceinline__ int weight_feature(int p, int f0, int n, GateUpPacking packing, bool& valid) {
  if (!kGated) {
    valid = f0 + p < n;
    return f0 + p;
  }
  if (packing == GateUpPacking::kInterleaved) {
    valid = f0 + p / 2 < n;
    return 2 * f0 + p;
  }
  constexpr int kHalf = Cfg::kWarpN / 2;
  const int q = p % Cfg::kWarpN;
  const int f = f0 + (p / Cfg::kWarpN) * kHalf + q % kHalf;
  valid = f < n;
  return q < kHalf ? f : n + f;
}

// ---- global -> shared -----------------------------------------------------

// Each thread owns fixed 16-byte pieces of the A and W tiles; their row
// pointers and validity are worked out once, and each stage adds the K step.
template <class Cfg, typename Element, WeightLayout kLayout, bool kGated>
struct Loader {
  static constexpr int kChunksA = Cfg::kBlockM * Cfg::kBlockK / 8;
  static constexpr int kChunksW = Cfg::kTileN * Cfg::kBlockK / 8;
  static_assert(kChunksA % Cfg::kThreads == 0 && kChunksW % Cfg::kThreads == 0, "whole pieces per thread");
  static constexpr int kPerThreadA = kChunksA / Cfg::kThreads;
  static constexpr int kPerThreadW = kChunksW / Cfg::kThreads;

  const Element* a_row[kPerThreadA];  // start of the token row (null past m)
  const Element* w_base[kPerThreadW];  // [out,in]: start of the feature row; [in,out]: column in row 0
  bool w_valid[kPerThreadW];
  int64_t w_ld;  // [in,out]: elements between K rows
  int k_end;

  __device__ __forceinline__ Loader(const GemmArgs& g, const TileCoord& t) {
    const auto* a = static_cast<const Element*>(g.a);
    const auto* w = static_cast<const Element*>(g.w);
    k_end = t.k_end;
#pragma unroll
    for (int i = 0; i < kPerThreadA; ++i) {
      const int c = static_cast<int>(threadIdx.x) + i * Cfg::kThreads;
      const int r = t.m0 + c / (Cfg::kBlockK / 8);
      a_row[i] = r < g.m ? a + static_cast<int64_t>(r) * g.k : nullptr;
    }
    w_ld = kGated ? 2 * int64_t{g.n} : int64_t{g.n};
#pragma unroll
    for (int i = 0; i < kPerThreadW; ++i) {
      const int c = static_cast<int>(threadIdx.x) + i * Cfg::kThreads;
      bool valid;
      if constexpr (kLayout == WeightLayout::kOutIn) {
        const int feature = weight_feature<Cfg, kGated>(c / (Cfg::kBlockK / 8), t.f0, g.n, g.epilogue.packing, valid);
        w_base[i] = w + static_cast<int64_t>(feature) * g.k;
      } else {
        const int feature =
            weight_feature<Cfg, kGated>((c % (Cfg::kTileN / 8)) * 8, t.f0, g.n, g.epilogue.packing, valid);
        w_base[i] = w + feature;
      }
      w_valid[i] = valid;
    }
  }

  // Stage `stage` <- K step starting at element k0.
  __device__ __forceinline__ void load(uint32_t a_stage, uint32_t w_stage, int k0, const void* fallback) const {
#pragma unroll
    for (int i = 0; i < kPerThreadA; ++i) {
      const int c = static_cast<int>(threadIdx.x) + i * Cfg::kThreads;
      const int r = c / (Cfg::kBlockK / 8);
      const int kc = (c % (Cfg::kBlockK / 8)) * 8;
      const bool valid = a_row[i] != nullptr && k0 + kc < k_end;  // k_end and kc: multiples of 8
      cp_async_16(a_stage + (r * Cfg::kLdA + kc) * 2, valid ? a_row[i] + k0 + kc : fallback, valid);
    }
#pragma unroll
    for (int i = 0; i < kPerThreadW; ++i) {
      const int c = static_cast<int>(threadIdx.x) + i * Cfg::kThreads;
      if constexpr (kLayout == WeightLayout::kOutIn) {
        const int p = c / (Cfg::kBlockK / 8);
        const int kc = (c % (Cfg::kBlockK / 8)) * 8;
        const bool valid = w_valid[i] && k0 + kc < k_end;
        cp_async_16(w_stage + (p * Cfg::kLdWOutIn + kc) * 2, valid ? w_base[i] + k0 + kc : fallback, valid);
      } else {
        const int kr = c / (Cfg::kTileN / 8);
        const int p = (c % (Cfg::kTileN / 8)) * 8;
        const bool valid = w_valid[i] && k0 + kr < k_end;
        cp_async_16(w_stage + (kr * Cfg::kLdWInOut + p) * 2, valid ? w_base[i] + (k0 + kr) * w_ld : fallback,
                    valid);
      }
    }
  }
};

// ---- mainloop -------------------------------------------------------------

template <class Cfg>
struct Accumulators {
  float c[Cfg::kMI][Cfg::kNI][4];
};

// acc += A[m0.., k_begin..k_end) . W^T over the split's K steps. Rows and
// features past the ends, and K past k_end, arrive as zeros.
template <class Cfg, typename Element, WeightLayout kLayout, bool kGated>
__device__ __forceinline__ void mainloop_sm80(const GemmArgs& g, const TileCoord& t, unsigned char* smem,
                                              Accumulators<Cfg>& acc) {
  constexpr int kStageW = Cfg::template stage_w<kLayout>();
  const uint32_t a_smem = smem_address(smem);
  const uint32_t w_smem = a_smem + Cfg::kStages * Cfg::kStageA * 2;
  const int warp = static_cast<int>(threadIdx.x) / 32;
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int warp_m = warp / Cfg::kWarpsN;
  const int warp_n = warp % Cfg::kWarpsN;

  const Loader<Cfg, Element, kLayout, kGated> loader(g, t);

#pragma unroll
  for (int s = 0; s < Cfg::kStages - 1; ++s) {
    if (s < t.k_tiles) {
      loader.load(a_smem + s * Cfg::kStageA * 2, w_smem + s * kStageW * 2, t.k_begin + s * Cfg::kBlockK, g.w);
    }
    cp_async_commit();  // empty groups keep the group count in step
  }

  // Per-lane ldmatrix offsets (elements) within a stage, for k16 step 0.
  // A (x4): lanes 0-15 address rows 0-15 at k 0, lanes 16-31 the same rows at k 8.
  const int a_lane = (warp_m * Cfg::kWarpM + lane % 16) * Cfg::kLdA + (lane / 16) * 8;
  // W (x4, two n8 tiles): matrices (n 0-7, k 0-7), (n 0-7, k 8-15),
  // (n 8-15, k 0-7), (n 8-15, k 8-15), i.e. b0b1 of n-tile j, b2b3 of j, then of j+1.
  int w_lane;
  if constexpr (kLayout == WeightLayout::kOutIn) {
    w_lane = (warp_n * Cfg::kWarpN + lane % 8 + (lane / 16) * 8) * Cfg::kLdWOutIn + ((lane / 8) % 2) * 8;
  } else {
    // [k][n] rows: .trans gives each thread (k = 2 (lane%4) .. +1, n = lane/4).
    w_lane = (lane % 8 + ((lane / 8) % 2) * 8) * Cfg::kLdWInOut + warp_n * Cfg::kWarpN + (lane / 16) * 8;
  }

  for (int kt = 0; kt < t.k_tiles; ++kt) {
    cp_async_wait<Cfg::kStages - 2>();
    __syncthreads();  // stage kt landed for all threads; stage kt-1 is free
    const int next = kt + Cfg::kStages - 1;
    if (next < t.k_tiles) {
      const int s = next % Cfg::kStages;
      loader.load(a_smem + s * Cfg::kStageA * 2, w_smem + s * kStageW * 2, t.k_begin + next * Cfg::kBlockK, g.w);
    }
    cp_async_commit();

    const int stage = kt % Cfg::kStages;
    const uint32_t a_stage = a_smem + stage * Cfg::kStageA * 2;
    const uint32_t w_stage = w_smem + stage * kStageW * 2;
#pragma unroll
    for (int kk = 0; kk < Cfg::kBlockK / 16; ++kk) {
      uint32_t a_frag[Cfg::kMI][4];
      uint32_t w_frag[Cfg::kNI][2];
#pragma unroll
      for (int mi = 0; mi < Cfg::kMI; ++mi) {
        ldmatrix_x4(a_frag[mi], a_stage + (a_lane + mi * 16 * Cfg::kLdA + kk * 16) * 2);
      }
#pragma unroll
      for (int nj = 0; nj < Cfg::kNI / 2; ++nj) {
        uint32_t r[4];
        if constexpr (kLayout == WeightLayout::kOutIn) {
          ldmatrix_x4(r, w_stage + (w_lane + nj * 16 * Cfg::kLdWOutIn + kk * 16) * 2);
        } else {
          ldmatrix_x4_trans(r, w_stage + (w_lane + kk * 16 * Cfg::kLdWInOut + nj * 16) * 2);
        }
        w_frag[2 * nj][0] = r[0];
        w_frag[2 * nj][1] = r[1];
        w_frag[2 * nj + 1][0] = r[2];
        w_frag[2 * nj + 1][1] = r[3];
      }
#pragma unroll
      for (int mi = 0; mi < Cfg::kMI; ++mi)
#pragma unroll
        for (int ni = 0; ni < Cfg::kNI; ++ni) mma_16816<Element>(acc.c[mi][ni], a_frag[mi], w_frag[ni]);
    }
  }
  cp_async_wait<0>();  // only empty groups remain; leave nothing in flight
}

// ---- epilogue -------------------------------------------------------------

// Thread (lane) holds, for each (mi, ni), the sums at tile rows
// mi*16 + lane/4 (+8 for c[2], c[3]) and tile columns ni*8 + 2 (lane%4) (+1
// for c[1], c[3]) of its warp's slice.
//
// The tile column pair of n-tile ni that the thread finishes: features
// (f, f + 1) (plain; concatenated gated: n-tiles [0, kNI/2) hold gate sums,
// [kNI/2, kNI) the up sums of the same features), or feature f whose gate
// and up sums are the pair (interleaved gated).
template <class Cfg, bool kGated>
__device__ __forceinline__ int epilogue_feature(const TileCoord& t, bool concatenated, int warp_n, int lane, int ni) {
  if (!kGated) return t.f0 + warp_n * Cfg::kWarpN + ni * 8 + (lane % 4) * 2;
  if (concatenated) return t.f0 + warp_n * (Cfg::kWarpN / 2) + ni * 8 + (lane % 4) * 2;
  return t.f0 + warp_n * (Cfg::kWarpN / 2) + ni * 4 + lane % 4;
}

// K split with partial sums in global memory: each split stores its fp32
// sums ([split][m][gated ? 2n : n], gate sums in [0, n), up sums in [n, 2n)).
template <class Cfg, bool kGated>
__device__ __forceinline__ void store_partials(const GemmArgs& g, const TileCoord& t, const Accumulators<Cfg>& acc) {
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int warp_m = warp / Cfg::kWarpsN, warp_n = warp % Cfg::kWarpsN;
  const int row0 = t.m0 + warp_m * Cfg::kWarpM + lane / 4;
  const int n = g.n;
  const bool concatenated = kGated && g.epilogue.packing == GateUpPacking::kConcatenated;
  const int64_t n_acc = kGated ? 2 * int64_t{n} : int64_t{n};
  float* partials = g.partials + static_cast<int64_t>(t.split) * g.m * n_acc;
#pragma unroll
  for (int mi = 0; mi < Cfg::kMI; ++mi)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = row0 + mi * 16 + half * 8;
      if (r >= g.m) continue;
      float* row = partials + static_cast<int64_t>(r) * n_acc;
#pragma unroll
      for (int ni = 0; ni < (concatenated ? Cfg::kNI / 2 : Cfg::kNI); ++ni) {
        const int f = epilogue_feature<Cfg, kGated>(t, concatenated, warp_n, lane, ni);
        if (f >= n) continue;  // f even and n % 8 == 0: f + 1 < n too
        const float s0 = acc.c[mi][ni][2 * half], s1 = acc.c[mi][ni][2 * half + 1];
        if (!kGated) {
          *reinterpret_cast<float2*>(row + f) = make_float2(s0, s1);
        } else if (concatenated) {
          *reinterpret_cast<float2*>(row + f) = make_float2(s0, s1);
          *reinterpret_cast<float2*>(row + n + f) =
              make_float2(acc.c[mi][ni + Cfg::kNI / 2][2 * half], acc.c[mi][ni + Cfg::kNI / 2][2 * half + 1]);
        } else {
          row[f] = s0;  // gate
          row[n + f] = s1;  // up
        }
      }
    }
}

// The MLP epilogue of a plain tile, from the accumulators in registers:
// act(sum + bias) + residual, rounded once and stored.
// Every input is loaded before the stores that need it: the compiler may
// not move a load above a store that could alias it, so loading each
// element's bias and residual beside its store made a chain of dependent
// memory round trips (32 per thread for a 128 x 128 tile). Now the bias is
// loaded once per thread and the residual once per m16 tile. Measured on
// an H100 (2026-12-06, two calls an hour apart, not an A/B): this GEMM's
// kernel for GPT-2 small's up projection at 128 tokens 23.8 -> 21.3 us,
// kFused 35.5 -> 32.8 us at 128 tokens and 24.0 -> 22.6 us at 16
// (mlp-cluster-first-* before, mlp-cluster-epilogue-* after).
template <class Cfg, typename Element>
__device__ __forceinline__ void register_epilogue(const GemmArgs& g, const TileCoord& t, const Accumulators<Cfg>& acc) {
  using Pair = decltype(Convert<Element>::pair(0.0f, 0.0f));
  const Epilogue& e = g.epilogue;
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int warp_m = warp / Cfg::kWarpsN, warp_n = warp % Cfg::kWarpsN;
  const int row0 = t.m0 + warp_m * Cfg::kWarpM + lane / 4;
  const int n = g.n;
  auto* out = static_cast<Element*>(e.out);
  // n-tile ni: features f, f + 1 (f even and n % 8 == 0: both or neither exist).
  const auto feature = [&](int ni) { return epilogue_feature<Cfg, false>(t, false, warp_n, lane, ni); };

  float bias[Cfg::kNI][2] = {};
  if (e.bias != nullptr) {
#pragma unroll
    for (int ni = 0; ni < Cfg::kNI; ++ni) {
      const int f = feature(ni);
      if (f >= n) continue;
      bias[ni][0] = mlp_detail::load_as_float<Element>(e.bias, f);
      bias[ni][1] = mlp_detail::load_as_float<Element>(e.bias, f + 1);
    }
  }

#pragma unroll
  for (int mi = 0; mi < Cfg::kMI; ++mi) {
    // The residual of this m16 tile's outputs.
    float res[2][Cfg::kNI][2] = {};
    if (e.residual != nullptr) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int r = row0 + mi * 16 + half * 8;
#pragma unroll
        for (int ni = 0; ni < Cfg::kNI; ++ni) {
          const int f = feature(ni);
          if (r >= g.m || f >= n) continue;
          const int64_t at = static_cast<int64_t>(r) * n + f;
          res[half][ni][0] = mlp_detail::load_as_float<Element>(e.residual, at);
          res[half][ni][1] = mlp_detail::load_as_float<Element>(e.residual, at + 1);
        }
      }
    }
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = row0 + mi * 16 + half * 8;
      if (r >= g.m) continue;
#pragma unroll
      for (int ni = 0; ni < Cfg::kNI; ++ni) {
        const int f = feature(ni);
        if (f >= n) continue;
        const float* s = acc.c[mi][ni];
        const float v0 = mlp_detail::activate(s[2 * half] + bias[ni][0], e.activation) + res[half][ni][0];
        const float v1 = mlp_detail::activate(s[2 * half + 1] + bias[ni][1], e.activation) + res[half][ni][1];
        *reinterpret_cast<Pair*>(out + static_cast<int64_t>(r) * n + f) = Convert<Element>::pair(v0, v1);
      }
    }
  }
}

// The MLP epilogue of a gated tile, staged through shared memory so that
// its code is one short loop. Written out per accumulator, with the
// activation's switch inlined for each of a 128 x 256 tile's 64 outputs
// per thread, the gated kernel was 275 KB of code (the plain one 127 KB:
// Nsight Compute put 32% of the warps' samples of GPT-2 small's up
// projection at 128 tokens in its epilogue, 76% of those waiting for
// instructions, which after the benchmark's L2 flush come from memory;
// H100, 2026-12-06, bench/results/mlp-gemm-ncu-gpt2-128-*); staged, 67 KB.
//
// Each warp stages kChunkMI m16 tiles of its gate and up sums at a time in
// its own part of the (by then idle) pipeline memory, [row][column] with
// rows padded by 8 floats (the fragments' float2 stores and the loop's
// 8-byte reads are free of bank conflicts), with the residual of those
// rows, loaded all at once (in flight together, no store between them).
// Then one loop finishes one item per lane per step: concatenated gate/up,
// two adjacent features (gate columns 2q, 2q + 1, their ups kWarpN / 2
// further); interleaved, one feature from its (gate, up) columns 2q,
// 2q + 1. The lane's columns are the same in every step, so its bias
// comes from registers. Per output the fp32 operations are those of the
// register form, in the same order: act(gate + gate bias) * (up + up
// bias) + residual, rounded once.
template <class Cfg, typename Element>
struct StagedEpilogue {
  static constexpr int kChunkMI = 2;  // m16 tiles per chunk
  static_assert(Cfg::kMI % kChunkMI == 0, "whole chunks per warp tile");
  static constexpr int kRows = 16 * kChunkMI;
  static constexpr int kLdSums = Cfg::kWarpN + 8;  // floats per staged row
  static constexpr int kItemsInterleaved = Cfg::kWarpN / 2;  // items per row
  static constexpr int kItemsConcatenated = Cfg::kWarpN / 4;
  static constexpr int kLdResidual = Cfg::kWarpN / 2 + 8;  // elements per staged row (kWarpN / 2 outputs)
  static constexpr int kSumsBytes = kRows * kLdSums * 4;
  static constexpr int kWarpBytes = kSumsBytes + (kRows * kLdResidual * 2 + 15) / 16 * 16;
  static constexpr int kBytes = kWarpBytes * Cfg::kWarpsM * Cfg::kWarpsN;
  static_assert(32 % kItemsInterleaved == 0 && 32 % kItemsConcatenated == 0, "whole rows per step of a warp's lanes");
  static constexpr int kMostSteps = kRows * kItemsInterleaved / 32;  // loop steps per chunk (concatenated: fewer)
};

template <class Cfg, typename Element>
__device__ __forceinline__ void staged_epilogue(const GemmArgs& g, const TileCoord& t, const Accumulators<Cfg>& acc,
                                                unsigned char* smem) {
  using S = StagedEpilogue<Cfg, Element>;
  using Pair = decltype(Convert<Element>::pair(0.0f, 0.0f));
  const Epilogue& e = g.epilogue;
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int warp_m = warp / Cfg::kWarpsN, warp_n = warp % Cfg::kWarpsN;
  const int n = g.n;
  const bool interleaved = e.packing == GateUpPacking::kInterleaved;
  const int items = interleaved ? S::kItemsInterleaved : S::kItemsConcatenated;
  const int row_step = 32 / items;        // rows per step
  const int steps = S::kRows / row_step;  // per chunk
  const int q = lane % items, lane_row = lane / items;
  // The warp's features start at t.f0 + warp_n kWarpN / 2; the lane's
  // first one (concatenated: f and f + 1, f even and n % 8 == 0, so both
  // or neither exist).
  const int f = t.f0 + warp_n * (Cfg::kWarpN / 2) + (interleaved ? q : 2 * q);
  const bool f_valid = f < n;
  const int out_col = interleaved ? q : 2 * q;  // in the staged residual row
  const int c0 = 2 * q, c_up = Cfg::kWarpN / 2 + 2 * q;  // sums' columns

  // The lane's bias: concatenated gate f, f + 1 then up f, f + 1;
  // interleaved gate f, up f.
  float bias[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  if (e.bias != nullptr && f_valid) {
    if (interleaved) {
      bias[0] = mlp_detail::load_as_float<Element>(e.bias, mlp_detail::gate_column(e.packing, f));
      bias[1] = mlp_detail::load_as_float<Element>(e.bias, mlp_detail::up_column(e.packing, n, f));
    } else {
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        bias[j] = mlp_detail::load_as_float<Element>(e.bias, mlp_detail::gate_column(e.packing, f + j));
        bias[2 + j] = mlp_detail::load_as_float<Element>(e.bias, mlp_detail::up_column(e.packing, n, f + j));
      }
    }
  }

  float* const sums = reinterpret_cast<float*>(smem + warp * S::kWarpBytes);
  Element* const residual = reinterpret_cast<Element*>(smem + warp * S::kWarpBytes + S::kSumsBytes);
  auto* out = static_cast<Element*>(e.out);
  const auto* residual_in = static_cast<const Element*>(e.residual);
  const int warp_row0 = t.m0 + warp_m * Cfg::kWarpM;
  __syncthreads();  // every warp is done reading the pipeline's stages
#pragma unroll
  for (int chunk = 0; chunk < Cfg::kMI / S::kChunkMI; ++chunk) {
    // The fragments: rows i * 16 + lane / 4 (+ 8), columns ni * 8 + 2 (lane % 4).
#pragma unroll
    for (int i = 0; i < S::kChunkMI; ++i)
#pragma unroll
      for (int ni = 0; ni < Cfg::kNI; ++ni)
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const float* c = acc.c[chunk * S::kChunkMI + i][ni];
          const int row = i * 16 + lane / 4 + 8 * half;
          *reinterpret_cast<float2*>(sums + row * S::kLdSums + ni * 8 + 2 * (lane % 4)) =
              make_float2(c[2 * half], c[2 * half + 1]);
        }
    const int chunk_row0 = warp_row0 + chunk * S::kRows;
    if (residual_in != nullptr) {
      // Every load first, then every store to shared memory.
      Pair loaded[S::kMostSteps];
#pragma unroll
      for (int step = 0; step < S::kMostSteps; ++step) {
        const int r = chunk_row0 + step * row_step + lane_row;
        loaded[step] = Pair{};
        if (step < steps && r < g.m && f_valid) {
          const int64_t at = static_cast<int64_t>(r) * n + f;
          if (interleaved) {
            loaded[step].x = residual_in[at];
          } else {
            loaded[step] = *reinterpret_cast<const Pair*>(residual_in + at);
          }
        }
      }
#pragma unroll
      for (int step = 0; step < S::kMostSteps; ++step) {
        if (step >= steps) continue;
        Element* dst = residual + (step * row_step + lane_row) * S::kLdResidual + out_col;
        if (interleaved) {
          dst[0] = loaded[step].x;
        } else {
          *reinterpret_cast<Pair*>(dst) = loaded[step];
        }
      }
    }
    __syncwarp();
#pragma unroll 1
    for (int step = 0; step < steps; ++step) {
      const int row = step * row_step + lane_row;
      const int r = chunk_row0 + row;
      if (r >= g.m || !f_valid) continue;
      const float* srow = sums + row * S::kLdSums;
      const float2 s = *reinterpret_cast<const float2*>(srow + c0);  // 8 bytes: no bank conflicts
      float res[2] = {0.0f, 0.0f};
      if (residual_in != nullptr) {
        const Element* src = residual + row * S::kLdResidual + out_col;
        if (interleaved) {
          res[0] = Convert<Element>::to_float(src[0]);
        } else {
          const float2 pair = Convert<Element>::to_float2(*reinterpret_cast<const Pair*>(src));
          res[0] = pair.x;
          res[1] = pair.y;
        }
      }
      const int64_t at = static_cast<int64_t>(r) * n + f;
      if (interleaved) {
        const float v = mlp_detail::activate(s.x + bias[0], e.activation) * (s.y + bias[1]) + res[0];
        out[at] = Convert<Element>::from_float(v);
      } else {
        const float2 u = *reinterpret_cast<const float2*>(srow + c_up);
        const float v0 = mlp_detail::activate(s.x + bias[0], e.activation) * (u.x + bias[2]) + res[0];
        const float v1 = mlp_detail::activate(s.y + bias[1], e.activation) * (u.y + bias[3]) + res[1];
        *reinterpret_cast<Pair*>(out + at) = Convert<Element>::pair(v0, v1);
      }
    }
    __syncwarp();  // the next chunk overwrites this one
  }
}

// The tile's MLP epilogue: bias, activation or act(gate) * up, residual,
// rounded once and stored (or, K split, the partial sums). Gated tiles go
// through shared memory, plain ones straight from registers: measured
// against each other in one call (H100, 2026-12-06, bench_mlp --rounds 3,
// mlp-staged-epilogue-ab-*), the staged form made the gated kernel (275 KB
// of code unrolled, 67 KB staged) faster, Llama-7B's kFused 228 -> 191 us
// at 128 tokens and 18.3 -> 13.4 ms at 16k (242 -> 332 TFLOP/s), but the
// plain one (127 -> 30 KB) slower: GPT-2 small's kFused 32.6 -> 34.6-35.1
// us at 128 tokens and 44.5 -> 49.8-50.4 at 1,024; its up-projection
// kernel 21.4 -> 22.9 us. Probably because the staged loop finishes one
// output pair per lane at a time: for the plain tile's 64 outputs per
// thread that chain of steps costs more than fetching the unrolled code.
template <class Cfg, typename Element, bool kGated>
__device__ __forceinline__ void epilogue(const GemmArgs& g, const TileCoord& t, const Accumulators<Cfg>& acc,
                                         unsigned char* smem) {
  if (g.splits > 1) {
    store_partials<Cfg, kGated>(g, t, acc);
  } else if constexpr (kGated) {
    staged_epilogue<Cfg, Element>(g, t, acc, smem);
  } else {
    register_epilogue<Cfg, Element>(g, t, acc);
  }
}

template <class Cfg>
__device__ __forceinline__ void zero(Accumulators<Cfg>& acc) {
#pragma unroll
  for (int mi = 0; mi < Cfg::kMI; ++mi)
#pragma unroll
    for (int ni = 0; ni < Cfg::kNI; ++ni)
#pragma unroll
      for (int j = 0; j < 4; ++j) acc.c[mi][ni][j] = 0.0f;
}

template <class Cfg, typename Element, WeightLayout kLayout, bool kGated>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocks) mlp_gemm_kernel(const GemmArgs g) {
  extern __shared__ __align__(128) unsigned char smem[];
  const TileCoord t = tile_coord<Cfg, kGated>(g, static_cast<int>(blockIdx.x), static_cast<int>(blockIdx.y));
  Accumulators<Cfg> acc;
  zero(acc);
  mainloop_sm80<Cfg, Element, kLayout, kGated>(g, t, smem, acc);
  static_assert(!kGated || StagedEpilogue<Cfg, Element>::kBytes <= Cfg::template smem_bytes<kLayout>(),
                "the staged epilogue fits the pipeline's shared memory");
  epilogue<Cfg, Element, kGated>(g, t, acc, smem);
}

// ---- host launchers -------------------------------------------------------

// Launches the kernel for one configuration (params planned and checked).
template <bool kGated, typename Element, WeightLayout kLayout>
void launch_config(const GemmArgs& g, cudaStream_t stream) {
  using Cfg = typename ConfigFor<kGated>::type;
  constexpr int kSmem = Cfg::template smem_bytes<kLayout>();
  auto* kernel = &mlp_gemm_kernel<Cfg, Element, kLayout, kGated>;
  const int64_t tiles = output_tiles<Cfg, kGated>(g);
  if (tiles > INT_MAX || g.splits > 65535) {
    throw std::invalid_argument("mlp: " + std::to_string(tiles) + " tiles x " + std::to_string(g.splits) +
                                " splits exceed the grid limits");
  }
  if (kSmem > 48 * 1024) {
    // Per device and cheap; set on every call so a change of device is covered.
    MLOPT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  }
  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(g.splits));
  kernel<<<grid, Cfg::kThreads, kSmem, stream>>>(g);
  MLOPT_CUDA_CHECK_LAUNCH();
}

template <typename Element, WeightLayout kLayout>
void run_gemm_typed(const GemmArgs& g, cudaStream_t stream) {
  g.epilogue.gated ? launch_config<true, Element, kLayout>(g, stream) : launch_config<false, Element, kLayout>(g, stream);
}

}  // namespace mlopt::kernels::mlp_gemm
