#pragma once
// mlopt's decode path (MlpImpl::kDecode): one projection of a few-token
// MLP per launch, streaming its weights once from memory at full width.
//
// With few tokens a projection is a matrix-vector product bound by reading
// the weights, and what costs is latency: how many bytes each SM has in
// flight, and how many dependent round trips each warp makes. So nothing
// goes through shared memory on the way in:
//
//   - Each lane loads its weights straight from global memory into
//     registers, 16 bytes at a time (ld.global.nc, no L1 allocation), and
//     those registers are the mma.sync m16n8k16 A operands as loaded (the
//     weights are the m16 side, the tokens the n8 side). The sum over K does
//     not care in which order its terms come, so each lane's contiguous 16
//     bytes stand for the k indices the fragment layout gives it, and the
//     activations (B operand) are read in the same order:
//       [out, in] weights: a lane's 8 consecutive k of rows g and g + 8 of a
//         16-row tile are two k16 steps' worth of its A registers;
//       [in, out] weights: a lane's 8 consecutive features at K rows 2t,
//         2t + 1 (and 2t + 8, 2t + 9) are paired by byte permutes into the
//         (k, k + 1) registers of 8 features; 16 features per lane make
//         8 m16 tiles whose rows are those features.
//   - A block of kDecodeWarps warps owns one slab of output features and one
//     range of K (its steps, dealt to its warps in turn); gated slabs hold
//     the gate and up rows of the same features in rows g and g + 8 of each
//     tile, so the gated product is formed from the block's own sums. The
//     warps' sums meet in shared memory; when K is split further across the
//     blocks of a thread-block cluster (grid y) they are summed from the
//     peers' shared memory (distributed shared memory): no partial sums in
//     global memory, no reduction kernel.
//   - Tokens come in groups of 8 or 16 (grid z, the mma's n8 side once or
//     twice); more tokens re-read the weights once per group, so the path is
//     meant for at most 16.
//   - The epilogue's bias and residual are requested into L2 when a block
//     starts, so they are there when its sums are done.
//   - Programmatic dependent launch: the up projection lets the down
//     projection launch once its blocks are past their own wait for the
//     previous kernel, so the down projection's blocks load their first
//     step of weights into registers (and, for small MLPs, ask L2 for the
//     rest) while the up projection still runs, and wait only before reading
//     h.
//
// Needs compute capability 9.0 (clusters, griddepcontrol, bulk L2
// prefetch); mlp_launch.cpp checks the device before it launches.
#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "mlopt/kernels/cuda_check.h"
#include "mlp_activation.cuh"
#include "mlp_dispatch.h"
#include "mma_sm80.cuh"

namespace mlopt::kernels::mlp_decode {

using mlp_detail::DecodeArgs;
using mlp_detail::Epilogue;

constexpr int kWarps = mlp_detail::kDecodeWarps;
constexpr int kThreads = kWarps * 32;

// m16 tiles per warp: one 16-row tile for [out, in] weights, eight (16
// features per lane) for [in, out].
template <WeightLayout kLayout>
constexpr int kTiles = kLayout == WeightLayout::kOutIn ? 1 : 8;

// Shared memory: every warp's sums, [warp][token][tile row], each token's
// row padded by one float so that lanes storing fragments (rows g, tokens
// 2t) and lanes reading consecutive features hit different banks.
template <WeightLayout kLayout>
constexpr int kSumsStride = kTiles<kLayout> * 16 + 1;
template <WeightLayout kLayout, int kNT>
constexpr int smem_bytes() {
  return kWarps * 8 * kNT * kSumsStride<kLayout> * 4;
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

// 16 bytes of weights, streamed: read once, not kept in L1; zeros when invalid.
__device__ __forceinline__ uint4 load_weights(const uint16_t* p, bool valid) {
  uint4 v = make_uint4(0, 0, 0, 0);
  if (valid) {
    asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
  }
  return v;
}

// Activations (x, or h from the previous kernel): through L2 only, never a
// stale L1 line of an earlier call's h.
__device__ __forceinline__ uint4 load_activations16(const uint16_t* p, bool valid) {
  return valid ? __ldcg(reinterpret_cast<const uint4*>(p)) : make_uint4(0, 0, 0, 0);
}
__device__ __forceinline__ uint32_t load_activations4(const uint16_t* p, bool valid) {
  return valid ? __ldcg(reinterpret_cast<const unsigned int*>(p)) : 0u;
}

__device__ __forceinline__ void prefetch_l2(const void* p, uint32_t bytes) {
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(p), "r"(bytes) : "memory");
}

// L2 prefetch of what the epilogue of features [f0, f0 + count) of tokens
// [tok0, tok0 + tokens) reads: lane l < tokens the residual row tok0 + l,
// lanes 16 and 17 the bias (gated: of the gate and of the up features).
template <bool kGated>
__device__ __forceinline__ void prefetch_epilogue(const DecodeArgs& d, int f0, int count, int tok0, int tokens,
                                                  int lane) {
  const Epilogue& e = d.epilogue;
  const int len = min(count, d.n - f0);  // multiples of 8: whole 16-byte pieces
  if (len <= 0) return;
  if (lane < tokens && e.residual != nullptr && tok0 + lane < d.m) {
    prefetch_l2(static_cast<const uint16_t*>(e.residual) + static_cast<int64_t>(tok0 + lane) * d.n + f0, len * 2);
  }
  if (e.bias == nullptr || lane < 16 || lane > 17) return;
  const auto* bias = static_cast<const uint16_t*>(e.bias);
  if (!kGated) {
    if (lane == 16) prefetch_l2(bias + f0, len * 2);
  } else if (e.packing == GateUpPacking::kInterleaved) {
    if (lane == 16) prefetch_l2(bias + 2 * f0, len * 4);
  } else {
    prefetch_l2(bias + (lane == 16 ? f0 : d.n + f0), len * 2);
  }
}

// Programmatic dependent launch: let the next kernel on the stream launch;
// wait until the previous one has finished and its writes are visible.
__device__ __forceinline__ void launch_next_grid() { asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory"); }
__device__ __forceinline__ void wait_for_previous_grid() { asm volatile("griddepcontrol.wait;\n" ::: "memory"); }

template <int kWord>
__device__ __forceinline__ uint32_t word(const uint4& v) {
  if constexpr (kWord == 0) return v.x;
  if constexpr (kWord == 1) return v.y;
  if constexpr (kWord == 2) return v.z;
  return v.w;
}

// Element j of `k_row` (low half) and of `k_next_row` (high half): the
// (k, k + 1) register of feature j.
template <int kJ>
__device__ __forceinline__ uint32_t k_pair(const uint4& k_row, const uint4& k_next_row) {
  return __byte_perm(word<kJ / 2>(k_row), word<kJ / 2>(k_next_row), kJ % 2 ? 0x7632 : 0x5410);
}

// Where a block's weights are, per layout. Fragment rows: tile i, row r
// (0..15); gated tiles hold gate features in rows 0..7 and the same
// features' up rows in 8..15.
template <WeightLayout kLayout, bool kGated>
struct Slab;

// [out, in]: one 16-row tile, lane rows g and g + 8; K steps of 4 x 32.
template <bool kGated>
struct Slab<WeightLayout::kOutIn, kGated> {
  static constexpr int kStepK = mlp_detail::decode_step_k(WeightLayout::kOutIn);
  static constexpr int kFeatures = mlp_detail::decode_slab_features(WeightLayout::kOutIn, kGated);
  const uint16_t* row[2];  // the lane's packed weight rows (fragment rows g, g + 8)
  bool valid[2];

  // The packed weight row behind fragment row r (0..15) of the slab, and
  // whether it exists (gated: rows 0..7 the gates of the slab's features,
  // 8..15 their ups).
  __device__ static int packed_row(const DecodeArgs& d, int slab, int r, bool& valid) {
    if constexpr (kGated) {
      const int f = slab * kFeatures + r % 8;
      valid = f < d.n;
      return r < 8 ? mlp_detail::gate_column(d.epilogue.packing, f) : mlp_detail::up_column(d.epilogue.packing, d.n, f);
    } else {
      const int row = slab * kFeatures + r;
      valid = row < d.n;
      return row;
    }
  }

  __device__ Slab(const DecodeArgs& d, int slab, int g) {
    const auto* w = static_cast<const uint16_t*>(d.w);
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int r = packed_row(d, slab, g + 8 * i, valid[i]);
      row[i] = w + static_cast<int64_t>(valid[i] ? r : 0) * d.k;
    }
  }

  struct Step {
    uint4 w[2][4];
  };
  __device__ __forceinline__ void load(const DecodeArgs& d, int step, int t, Step& s) const {
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const int k = step * kStepK + 32 * u + 8 * t;  // K is a multiple of 8: all 8 in or all out
#pragma unroll
      for (int r = 0; r < 2; ++r) s.w[r][u] = load_weights(row[r] + k, valid[r] && k < d.k);
    }
  }

  template <typename Element, int kNT>
  __device__ __forceinline__ void mma(const DecodeArgs& d, int step, int g, int t, int tok0, const Step& s,
                                      float (&acc)[1][kNT][4]) const {
    const auto* x = static_cast<const uint16_t*>(d.a);
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const int k = step * kStepK + 32 * u + 8 * t;
      const uint32_t a0[4] = {s.w[0][u].x, s.w[1][u].x, s.w[0][u].y, s.w[1][u].y};
      const uint32_t a1[4] = {s.w[0][u].z, s.w[1][u].z, s.w[0][u].w, s.w[1][u].w};
#pragma unroll
      for (int j = 0; j < kNT; ++j) {
        const int token = tok0 + 8 * j + g;
        const uint4 b = load_activations16(x + static_cast<int64_t>(token) * d.k + k, token < d.m && k < d.k);
        sm80::mma_16816<Element>(acc[0][j], a0, b.x, b.y);
        sm80::mma_16816<Element>(acc[0][j], a1, b.z, b.w);
      }
    }
  }

  // L2 prefetch of one step: the 16 rows' K range, one bulk request per row.
  __device__ __forceinline__ void prefetch(const DecodeArgs& d, int slab, int step, int lane) const {
    if (lane >= 16) return;
    const int k = step * kStepK;
    bool valid;
    const int r = packed_row(d, slab, lane, valid);
    if (!valid) return;
    const int len = min(kStepK, d.k - k);
    prefetch_l2(static_cast<const uint16_t*>(d.w) + static_cast<int64_t>(r) * d.k + k, len * 2);
  }

  // The fragment row (tile i, row r: i * 16 + r) holding the sums of the
  // slab's feature c; gated: its gate's, the up's 8 rows further.
  __device__ static int entry(const DecodeArgs&, int c) { return c; }
};

// [in, out]: per lane two groups of 8 adjacent packed columns (A, B), 8
// m16 tiles; K steps of 16 (rows 2t, 2t + 1, 2t + 8, 2t + 9 per lane).
//   plain / interleaved: A = slab * 128 + 8g, B = A + 64; tile i's rows g,
//     g + 8 are columns 2i, 2i + 1 of A (i < 4) or of B (i >= 4): for
//     interleaved gate/up weights, the gate and up of one feature;
//   concatenated (gated): A = slab * 64 + 8g (gate columns), B = n + A (the
//     same features' up columns); tile i's rows g, g + 8 are column i of A
//     and of B.
template <bool kGated>
struct Slab<WeightLayout::kInOut, kGated> {
  static constexpr int kStepK = mlp_detail::decode_step_k(WeightLayout::kInOut);
  static constexpr int kFeatures = mlp_detail::decode_slab_features(WeightLayout::kInOut, kGated);
  const uint16_t* col[2];
  bool valid[2];
  int64_t ld;         // packed columns: the weight's row stride
  bool concatenated;  // gated with concatenated gate/up columns

  __device__ Slab(const DecodeArgs& d, int slab, int g) {
    concatenated = kGated && d.epilogue.packing == GateUpPacking::kConcatenated;
    ld = kGated ? 2 * int64_t{d.n} : int64_t{d.n};
    int64_t c0, c1;
    if (concatenated) {
      c0 = int64_t{slab} * 64 + 8 * g;
      c1 = d.n + c0;
      valid[0] = valid[1] = c0 < d.n;
    } else {
      c0 = int64_t{slab} * 128 + 8 * g;
      c1 = c0 + 64;
      valid[0] = c0 < ld;  // ld is a multiple of 8: a group is all in or all out
      valid[1] = c1 < ld;
    }
    const auto* w = static_cast<const uint16_t*>(d.w);
    col[0] = w + (valid[0] ? c0 : 0);
    col[1] = w + (valid[1] ? c1 : 0);
  }

  struct Step {
    uint4 w[2][4];  // [group][K row 2t, 2t + 1, 2t + 8, 2t + 9]
  };
  __device__ __forceinline__ void load(const DecodeArgs& d, int step, int t, Step& s) const {
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int k = step * kStepK + 2 * t + (q & 1) + (q >> 1) * 8;
#pragma unroll
      for (int c = 0; c < 2; ++c) s.w[c][q] = load_weights(col[c] + k * ld, valid[c] && k < d.k);
    }
  }

  // Tile i's A registers: rows g, g + 8 from column pairs (group, column).
  template <int kGroupG, int kColG, int kGroupG8, int kColG8>
  __device__ __forceinline__ static void fragment(const Step& s, uint32_t (&a)[4]) {
    a[0] = k_pair<kColG>(s.w[kGroupG][0], s.w[kGroupG][1]);
    a[1] = k_pair<kColG8>(s.w[kGroupG8][0], s.w[kGroupG8][1]);
    a[2] = k_pair<kColG>(s.w[kGroupG][2], s.w[kGroupG][3]);
    a[3] = k_pair<kColG8>(s.w[kGroupG8][2], s.w[kGroupG8][3]);
  }
  template <int kI>
  __device__ __forceinline__ void tile(const Step& s, uint32_t (&a)[4]) const {
    if (concatenated) {
      fragment<0, kI, 1, kI>(s, a);
    } else {
      fragment<kI / 4, 2 * (kI % 4), kI / 4, 2 * (kI % 4) + 1>(s, a);
    }
  }

  template <typename Element, int kNT>
  __device__ __forceinline__ void mma(const DecodeArgs& d, int step, int g, int t, int tok0, const Step& s,
                                      float (&acc)[8][kNT][4]) const {
    const auto* x = static_cast<const uint16_t*>(d.a);
    const int k = step * kStepK + 2 * t;
    uint32_t b[kNT][2];
#pragma unroll
    for (int j = 0; j < kNT; ++j) {
      const int token = tok0 + 8 * j + g;
      const uint16_t* xr = x + static_cast<int64_t>(token) * d.k + k;
      b[j][0] = load_activations4(xr, token < d.m && k < d.k);
      b[j][1] = load_activations4(xr + 8, token < d.m && k + 8 < d.k);
    }
    tiles<Element, kNT>(s, b, acc, std::make_integer_sequence<int, 8>{});
  }

  // Tile i's mma for each group of 8 tokens.
  template <typename Element, int kNT, int kI>
  __device__ __forceinline__ void tile_mma(const Step& s, const uint32_t (&b)[kNT][2], float (&acc)[8][kNT][4]) const {
    uint32_t a[4];
    tile<kI>(s, a);
#pragma unroll
    for (int j = 0; j < kNT; ++j) sm80::mma_16816<Element>(acc[kI][j], a, b[j][0], b[j][1]);
  }
  template <typename Element, int kNT, int... kI>
  __device__ __forceinline__ void tiles(const Step& s, const uint32_t (&b)[kNT][2], float (&acc)[8][kNT][4],
                                        std::integer_sequence<int, kI...>) const {
    (tile_mma<Element, kNT, kI>(s, b, acc), ...);
  }

  // L2 prefetch of one step: 16 K rows of the slab's columns.
  __device__ __forceinline__ void prefetch(const DecodeArgs& d, int slab, int step, int lane) const {
    if (lane >= 16) return;
    const int k = step * kStepK + lane;
    if (k >= d.k) return;
    const auto* row = static_cast<const uint16_t*>(d.w) + k * ld;
    if (concatenated) {
      const int64_t c = int64_t{slab} * 64;
      const int len = static_cast<int>(d.n - c < 64 ? d.n - c : 64);
      prefetch_l2(row + c, len * 2);
      prefetch_l2(row + d.n + c, len * 2);
    } else {
      const int64_t c = int64_t{slab} * 128;
      prefetch_l2(row + c, static_cast<int>(ld - c < 128 ? ld - c : 128) * 2);
    }
  }

  // The fragment row (tile i, row r: i * 16 + r) holding the sums of the
  // slab's feature c; gated: its gate's, the up's 8 rows further.
  __device__ static int entry(const DecodeArgs& d, int c) {
    if (kGated && d.epilogue.packing == GateUpPacking::kConcatenated) return (c % 8) * 16 + c / 8;
    const int column = kGated ? 2 * c : c;  // packed column within the slab
    const int within = column % 8;
    return ((column / 64) * 4 + within / 2) * 16 + (column % 64) / 8 + 8 * (within % 2);
  }
};

// One projection: out[m, n] = epilogue(a[m, k] . w^T). Grid: feature slabs
// x K blocks (a cluster along y) x token groups of 8 kNT.
template <typename Element, WeightLayout kLayout, bool kGated, int kNT>
__global__ void __launch_bounds__(kThreads, 2) mlp_decode_kernel(const DecodeArgs d) {
  namespace cg = cooperative_groups;
  using Weights = Slab<kLayout, kGated>;
  constexpr int kT = kTiles<kLayout>;
  constexpr int kTokens = 8 * kNT;
  constexpr int kStride = kSumsStride<kLayout>;
  constexpr int kEntries = kTokens * kStride;       // one warp's sums
  extern __shared__ __align__(16) float sums[];  // [kWarps][kTokens][kStride]

  const int lane = static_cast<int>(threadIdx.x) % 32, warp = static_cast<int>(threadIdx.x) / 32;
  const int g = lane / 4, t = lane % 4;
  const int slab = static_cast<int>(blockIdx.x);
  const int tok0 = static_cast<int>(blockIdx.z) * kTokens;
  const int steps = (d.k + Weights::kStepK - 1) / Weights::kStepK;
  const int first = static_cast<int>(blockIdx.y) * d.steps_per_block + warp;
  const int end = min(steps, static_cast<int>(blockIdx.y + 1) * d.steps_per_block);

  // The epilogue's bias and residual come from memory once the sums are
  // done: ask L2 for them now (L2 is coherent, so this is safe before the
  // wait for the previous kernel).
  if (warp == 0) prefetch_epilogue<kGated>(d, slab * Weights::kFeatures, Weights::kFeatures, tok0, kTokens, lane);

  const Weights weights(d, slab, g);
  typename Weights::Step s;
  if (d.weights_before_wait) {
    // The down projection: its weights are no kernel's output (the up
    // projection writes only h), so they are fetched before h is ready.
    if (first < end) weights.load(d, first, t, s);
    if (d.prefetch_rest) {
      for (int step = first + kWarps; step < end; step += kWarps) weights.prefetch(d, slab, step, lane);
    }
    wait_for_previous_grid();
  } else {
    // x, biases and residual may be the previous kernel's output. The next
    // kernel launches once every block is past this wait, so it never runs
    // beside a kernel older than this one.
    wait_for_previous_grid();
    launch_next_grid();
  }

  // One step of weights in flight per warp at a time: the occupancy (16
  // warps per SM) keeps the memory pipe full. Requesting the next step
  // before each mma ([out, in] weights have the registers for it) measured
  // 2-3% slower for Llama-7B at 1-16 tokens (H100, 2026-12-06).
  float acc[kT][kNT][4] = {};
#pragma unroll 1
  for (int step = first; step < end; step += kWarps) {
    if (step != first || !d.weights_before_wait) weights.load(d, step, t, s);
    weights.template mma<Element, kNT>(d, step, g, t, tok0, s, acc);
  }
  if (d.weights_before_wait) launch_next_grid();

  // The warps' sums, then the block's sum over its warps in warp 0's place.
  float* mine = sums + warp * kEntries;
#pragma unroll
  for (int i = 0; i < kT; ++i)
#pragma unroll
    for (int j = 0; j < kNT; ++j)
#pragma unroll
      for (int c = 0; c < 4; ++c) mine[(8 * j + 2 * t + c % 2) * kStride + i * 16 + g + (c / 2) * 8] = acc[i][j][c];
  __syncthreads();
  for (int e = static_cast<int>(threadIdx.x); e < kEntries; e += kThreads) {
    float v = sums[e];
#pragma unroll
    for (int w = 1; w < kWarps; ++w) v += sums[w * kEntries + e];
    sums[e] = v;
  }
  const cg::cluster_group cluster = cg::this_cluster();
  const int blocks = d.k_blocks;
  if (blocks > 1) {
    cluster.sync();  // every block's sums are in its shared memory
  } else {
    __syncthreads();
  }

  // The epilogue: the cluster's blocks share the outputs, each summing the
  // blocks' values in rank order (deterministic).
  const int rank = static_cast<int>(blockIdx.y);  // the grid's y is one cluster
  const Epilogue& e = d.epilogue;
  constexpr int kOutputs = Weights::kFeatures * kTokens;  // features fastest: coalesced stores
  for (int o = rank * kThreads + static_cast<int>(threadIdx.x); o < kOutputs; o += blocks * kThreads) {
    const int c = o % Weights::kFeatures;
    const int token_in_group = o / Weights::kFeatures;
    const int token = tok0 + token_in_group;
    const int f = slab * Weights::kFeatures + c;
    if (token >= d.m || f >= d.n) continue;
    const int at = token_in_group * kStride + Weights::entry(d, c);
    float v = 0.0f, up = 0.0f;
    for (int b = 0; b < blocks; ++b) {
      const float* theirs = blocks > 1 ? cluster.map_shared_rank(sums, b) : sums;
      v += theirs[at];
      if constexpr (kGated) up += theirs[at + 8];
    }
    if constexpr (kGated) {
      v = mlp_detail::finish_gated<Element>(e, d.n, v, up, f);
    } else {
      v = mlp_detail::finish_plain<Element>(e, v, f);
    }
    const int64_t out_at = static_cast<int64_t>(token) * d.n + f;
    v = mlp_detail::add_residual<Element>(e, v, out_at);
    static_cast<Element*>(e.out)[out_at] = mlp_detail::Convert<Element>::from_float(v);
  }
  if (blocks > 1) cluster.sync();  // peers keep their shared memory until every block has read it
}

#else

template <typename Element, WeightLayout kLayout, bool kGated, int kNT>
__global__ void mlp_decode_kernel(const DecodeArgs) {}

#endif

// ---- host -------------------------------------------------------------------

// One projection: clusters of 1 x k_blocks blocks along the grid's y,
// launched as a programmatic dependent of the stream's previous kernel.
template <typename Element, WeightLayout kLayout, bool kGated, int kNT>
void launch(const DecodeArgs& d, cudaStream_t stream) {
  constexpr int kSmem = smem_bytes<kLayout, kNT>();
  auto* kernel = &mlp_decode_kernel<Element, kLayout, kGated, kNT>;
  if (kSmem > 48 * 1024) {
    MLOPT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  }
  cudaLaunchConfig_t config{};
  config.gridDim = mlp_detail::decode_grid(d, kLayout);
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = kSmem;
  config.stream = stream;
  cudaLaunchAttribute attributes[2]{};
  attributes[0].id = cudaLaunchAttributeClusterDimension;
  attributes[0].val.clusterDim.x = 1;
  attributes[0].val.clusterDim.y = static_cast<unsigned>(d.k_blocks);
  attributes[0].val.clusterDim.z = 1;
  attributes[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attributes[1].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attributes;
  config.numAttrs = 2;
  MLOPT_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, d));
}

template <typename Element, WeightLayout kLayout, bool kGated>
void launch_for_tokens(const DecodeArgs& d, cudaStream_t stream) {
  mlp_detail::decode_token_group(d.m) == 8 ? launch<Element, kLayout, kGated, 1>(d, stream)
                                           : launch<Element, kLayout, kGated, 2>(d, stream);
}

// Both projections: the up projection (gated or not) into h, then the
// down projection from h.
template <typename Element, WeightLayout kLayout>
void run_decode_typed(const DecodeArgs& up, const DecodeArgs& down, cudaStream_t stream) {
  if (down.epilogue.gated || up.weights_before_wait || !down.weights_before_wait) {
    throw std::invalid_argument("mlp: the decode kernels take a plain down projection that waits for h");
  }
  up.epilogue.gated ? launch_for_tokens<Element, kLayout, true>(up, stream)
                    : launch_for_tokens<Element, kLayout, false>(up, stream);
  launch_for_tokens<Element, kLayout, false>(down, stream);
}

}  // namespace mlopt::kernels::mlp_decode
