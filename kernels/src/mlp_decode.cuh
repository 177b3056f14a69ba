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
//     warps' sums meet in shared memory, stored and summed in the mma's
//     fragment order (16 bytes per lane, no bank conflicts), so each
//     thread then holds 2 or 4 outputs of one fragment (kFragments). When K
//     is split further across the blocks of a thread-block cluster (grid
//     y), each fragment has an owner block: every block writes its sums
//     into the owners' shared memory (distributed shared memory, 16 bytes
//     per store), one cluster barrier, and each owner finishes its
//     fragments from its own shared memory, so no block waits for its peers
//     to read before it exits. No partial sums in global memory, no
//     reduction kernel.
//   - Tokens come in groups of 8 or 16 (grid z, the mma's n8 side once or
//     twice); more tokens re-read the weights once per group, so the path is
//     meant for at most 16.
//   - The epilogue's bias and residual are requested into L2 when a block
//     starts and loaded into registers once its weights are in, so they are
//     there when its sums are done.
//   - Programmatic dependent launch: the up projection lets the down
//     projection launch once its blocks are past their own wait for the
//     previous kernel, so the down projection's blocks load their first
//     step of weights into registers (for small MLPs their first three,
//     which for GPT-2 small is all of them, and ask L2 for the rest) while
//     the up projection still runs, and wait only before reading h.
//
// Measured per block (globaltimer stamps, GPT-2 small at 1 token, H100,
// 2026-12-06): most of a small MLP's time is the kernels' fixed chain, not
// its 9.4 MB: the up projection's loads are in 3.4 us, its last block
// ends at 6.3 us, the down projection's wait returns 0.7 us later and its
// last block ends 3.3 us after that. At 16 tokens the sums' trip through
// shared memory was most of it: stored as [token][feature] they had 4-way
// bank conflicts on the way in and out, and the last down block ended at
// 17.5 us; in fragment order, at 13.4 us (mlp-decode-fragments-probe-*).
// Then the down projection's 16 tokens of mmas on its 48 blocks took 2 us
// after its wait, and its held variant (184 registers) started only as
// the up projection's blocks left; in narrow slabs (96 blocks, 100
// registers, beside the up blocks from 3.6 us) 1.3 us, last block at
// 12.3 us (mlp-decode-narrow-probe-*).
//
// Needs compute capability 9.0 (clusters, griddepcontrol, bulk L2
// prefetch); mlp_launch.cpp checks the device before it launches.
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
// features per lane) for [in, out], four (8 features per lane) for a
// narrow [in, out] slab (DecodeArgs::narrow).
template <WeightLayout kLayout, bool kNarrow>
constexpr int kTiles = kLayout == WeightLayout::kOutIn ? 1 : (kNarrow ? 4 : 8);

// Shared memory: every warp's sums in fragment order, [warp][fragment] of
// 16 bytes, fragment x = (tile * kNT + token group) * 32 + lane holding
// that lane's 4 accumulators. Each warp writes (and the block's sum reads)
// 512 consecutive bytes per instruction, so neither has bank conflicts;
// the earlier [token][feature] layout had 4-way conflicts on both sides,
// about 1 us of GPT-2 small's 16-token kernels each (timeline, H100).
template <int kT, int kNT>
constexpr int kFragments = kT * kNT * 32;  // per warp, of kT tiles
// Then, when K is split over `blocks` blocks of a cluster, the inbox of
// the split's reduction (see the kernel): every block's sums of the
// fragments this block finishes, [block][slot].
template <int kT, int kNT>
__host__ __device__ constexpr int inbox_slots(int blocks) {
  return blocks < 2 ? 0 : (kFragments<kT, kNT> + blocks - 1) / blocks;
}
// Shared memory of a launch with K split over `blocks` blocks; without
// arguments, the most any launch takes.
template <int kT, int kNT>
constexpr int smem_bytes(int blocks) {
  return (kWarps * kFragments<kT, kNT> + blocks * inbox_slots<kT, kNT>(blocks)) * 16;
}
template <int kT, int kNT>
constexpr int smem_bytes() {
  int most = 0;
  for (int b = 1; b <= mlp_detail::kDecodeMaxClusterBlocks; ++b) {
    most = smem_bytes<kT, kNT>(b) > most ? smem_bytes<kT, kNT>(b) : most;
  }
  return most;
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
template <WeightLayout kLayout, bool kGated, bool kNarrow>
struct Slab;

// [out, in]: one 16-row tile, lane rows g and g + 8; K steps of 4 x 32.
template <bool kGated>
struct Slab<WeightLayout::kOutIn, kGated, false> {
  static constexpr int kStepK = mlp_detail::decode_step_k(WeightLayout::kOutIn);
  static constexpr int kFeatures = mlp_detail::decode_slab_features(WeightLayout::kOutIn, kGated, false);
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

  // The slab's features whose sums fragment rows g (`first`) and g + 8
  // (`second`) of tile i hold; gated: the gate's and the up's of one.
  __device__ static void row_features(const DecodeArgs&, int /*i*/, int g, int& first, int& second) {
    first = g;
    second = kGated ? g : g + 8;
  }
};

// [in, out]: per lane two groups of 8 adjacent packed columns (A, B), 8
// m16 tiles; K steps of 16 (rows 2t, 2t + 1, 2t + 8, 2t + 9 per lane).
//   plain / interleaved: A = slab * 128 + 8g, B = A + 64; tile i's rows g,
//     g + 8 are columns 2i, 2i + 1 of A (i < 4) or of B (i >= 4): for
//     interleaved gate/up weights, the gate and up of one feature;
//   concatenated (gated): A = slab * 64 + 8g (gate columns), B = n + A (the
//     same features' up columns); tile i's rows g, g + 8 are column i of A
//     and of B.
//   narrow (plain only, DecodeArgs::narrow): group A alone, A = slab * 64 +
//     8g, 4 tiles: half the features per block, so twice the blocks for a
//     projection whose slabs are few (GPT-2 small's down projection: 6
//     slabs of 128 features, 48 blocks with K over 8; its 16 tokens' mmas
//     on those 48 SMs took 0.9 us).
template <bool kGated, bool kNarrow>
struct Slab<WeightLayout::kInOut, kGated, kNarrow> {
  static_assert(!(kGated && kNarrow), "narrow slabs are plain projections");
  static constexpr int kStepK = mlp_detail::decode_step_k(WeightLayout::kInOut);
  static constexpr int kFeatures = mlp_detail::decode_slab_features(WeightLayout::kInOut, kGated, kNarrow);
  static constexpr int kGroups = kNarrow ? 1 : 2;
  static constexpr int kColumns = 64 * kGroups;  // packed columns per slab (plain, interleaved)
  const uint16_t* col[kGroups];
  bool valid[kGroups];
  int64_t ld;         // packed columns: the weight's row stride
  bool concatenated;  // gated with concatenated gate/up columns

  __device__ Slab(const DecodeArgs& d, int slab, int g) {
    concatenated = kGated && d.epilogue.packing == GateUpPacking::kConcatenated;
    ld = kGated ? 2 * int64_t{d.n} : int64_t{d.n};
    int64_t c[2];
    if (concatenated) {
      c[0] = int64_t{slab} * 64 + 8 * g;
      c[1] = d.n + c[0];
      valid[0] = c[0] < d.n;
      if constexpr (kGroups == 2) valid[1] = valid[0];
    } else {
      c[0] = int64_t{slab} * kColumns + 8 * g;
      c[1] = c[0] + 64;
#pragma unroll
      for (int i = 0; i < kGroups; ++i) valid[i] = c[i] < ld;  // ld is a multiple of 8: a group is all in or all out
    }
    const auto* w = static_cast<const uint16_t*>(d.w);
#pragma unroll
    for (int i = 0; i < kGroups; ++i) col[i] = w + (valid[i] ? c[i] : 0);
  }

  struct Step {
    uint4 w[kGroups][4];  // [group][K row 2t, 2t + 1, 2t + 8, 2t + 9]
  };
  __device__ __forceinline__ void load(const DecodeArgs& d, int step, int t, Step& s) const {
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int k = step * kStepK + 2 * t + (q & 1) + (q >> 1) * 8;
#pragma unroll
      for (int c = 0; c < kGroups; ++c) s.w[c][q] = load_weights(col[c] + k * ld, valid[c] && k < d.k);
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
    if constexpr (kGated) {
      if (concatenated) {
        fragment<0, kI, 1, kI>(s, a);
        return;
      }
    }
    fragment<kI / 4, 2 * (kI % 4), kI / 4, 2 * (kI % 4) + 1>(s, a);
  }

  static constexpr int kT = kTiles<WeightLayout::kInOut, kNarrow>;
  template <typename Element, int kNT>
  __device__ __forceinline__ void mma(const DecodeArgs& d, int step, int g, int t, int tok0, const Step& s,
                                      float (&acc)[kT][kNT][4]) const {
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
    tiles<Element, kNT>(s, b, acc, std::make_integer_sequence<int, kT>{});
  }

  // Tile i's mma for each group of 8 tokens.
  template <typename Element, int kNT, int kI>
  __device__ __forceinline__ void tile_mma(const Step& s, const uint32_t (&b)[kNT][2], float (&acc)[kT][kNT][4]) const {
    uint32_t a[4];
    tile<kI>(s, a);
#pragma unroll
    for (int j = 0; j < kNT; ++j) sm80::mma_16816<Element>(acc[kI][j], a, b[j][0], b[j][1]);
  }
  template <typename Element, int kNT, int... kI>
  __device__ __forceinline__ void tiles(const Step& s, const uint32_t (&b)[kNT][2], float (&acc)[kT][kNT][4],
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
      const int64_t c = int64_t{slab} * kColumns;
      prefetch_l2(row + c, static_cast<int>(ld - c < kColumns ? ld - c : kColumns) * 2);
    }
  }

  // The slab's features whose sums fragment rows g (`first`) and g + 8
  // (`second`) of tile i hold (see tile()); gated: the gate's and the up's
  // of one.
  __device__ static void row_features(const DecodeArgs& d, int i, int g, int& first, int& second) {
    if (kGated && d.epilogue.packing == GateUpPacking::kConcatenated) {
      first = second = 8 * g + i;  // column i of groups A (gates) and B (ups)
      return;
    }
    const int column = 64 * (i / 4) + 8 * g + 2 * (i % 4);  // packed column of row g; row g + 8's is next
    first = kGated ? column / 2 : column;                     // interleaved: gate 2f, up 2f + 1
    second = kGated ? first : column + 1;
  }
};

// One fragment's outputs: tokens `token` and token + 1 (the lane's 2t and
// 2t + 1 of its group) of features f[0] and f[1] (rows g and g + 8 of its
// tile); gated: f[0] == f[1], the feature whose gate and up the two rows
// hold. Its 4 sums (c = 0..3, as the mma's accumulators): tokens
// token + c % 2 of rows g (c < 2) and g + 8.
struct Fragment {
  int token;
  int f[2];
};
template <typename Weights, int kNT>
__device__ __forceinline__ Fragment fragment_at(const DecodeArgs& d, int slab, int tok0, int x) {
  const int lane = x % 32, j = (x / 32) % kNT, i = x / 32 / kNT;
  Fragment fr;
  fr.token = tok0 + 8 * j + 2 * (lane % 4);
  Weights::row_features(d, i, lane / 4, fr.f[0], fr.f[1]);
  fr.f[0] += slab * Weights::kFeatures;
  fr.f[1] += slab * Weights::kFeatures;
  return fr;
}
// Outputs per fragment: 4 (tokens x rows), gated 2 (tokens; each from a
// gate and an up sum). Output c is token fr.token + c % 2 of feature
// fr.f[c / 2].
template <bool kGated>
constexpr int kFragmentOutputs = kGated ? 2 : 4;
__device__ __forceinline__ bool output_valid(const DecodeArgs& d, const Fragment& fr, int c) {
  return fr.token + c % 2 < d.m && fr.f[c / 2] < d.n;
}
// Whether any of the fragment's outputs exists (its first one does then).
__device__ __forceinline__ bool fragment_valid(const DecodeArgs& d, const Fragment& fr) { return output_valid(d, fr, 0); }

// What the epilogue of one fragment reads from memory besides its sums:
// the bias of its features (gated: of its feature's gate and up) and the
// residual of each output, zero where absent. Loaded before the sums are
// ready, so that the loads' latency passes while the block and its
// cluster sum.
struct FragmentInputs {
  float bias[2] = {0.0f, 0.0f};
  float residual[4] = {0.0f, 0.0f, 0.0f, 0.0f};
};
template <typename Element, bool kGated>
__device__ __forceinline__ FragmentInputs load_fragment_inputs(const DecodeArgs& d, const Fragment& fr) {
  const Epilogue& e = d.epilogue;
  FragmentInputs in;
  if (e.bias != nullptr) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      if (fr.f[r] >= d.n) continue;
      if constexpr (kGated) {
        const int column = r == 0 ? mlp_detail::gate_column(e.packing, fr.f[0]) : mlp_detail::up_column(e.packing, d.n, fr.f[0]);
        in.bias[r] = mlp_detail::load_as_float<Element>(e.bias, column);
      } else {
        in.bias[r] = mlp_detail::load_as_float<Element>(e.bias, fr.f[r]);
      }
    }
  }
  if (e.residual != nullptr) {
#pragma unroll
    for (int c = 0; c < kFragmentOutputs<kGated>; ++c) {
      if (output_valid(d, fr, c)) {
        in.residual[c] = mlp_detail::load_as_float<Element>(e.residual, static_cast<int64_t>(fr.token + c % 2) * d.n + fr.f[c / 2]);
      }
    }
  }
  return in;
}

// The fragment's outputs from its sums over K: act(v + bias) (gated:
// act(gate + gate bias) * (up + up bias)) + residual, stored.
template <typename Element, bool kGated>
__device__ __forceinline__ void finish_fragment(const DecodeArgs& d, const Fragment& fr, const float4& s,
                                                const FragmentInputs& in) {
  const float sum[4] = {s.x, s.y, s.z, s.w};
#pragma unroll
  for (int c = 0; c < kFragmentOutputs<kGated>; ++c) {
    if (!output_valid(d, fr, c)) continue;
    float v;
    if constexpr (kGated) {
      v = mlp_detail::activate(sum[c] + in.bias[0], d.epilogue.activation) * (sum[c + 2] + in.bias[1]);
    } else {
      v = mlp_detail::activate(sum[c] + in.bias[c / 2], d.epilogue.activation);
    }
    v += in.residual[c];
    static_cast<Element*>(d.epilogue.out)[static_cast<int64_t>(fr.token + c % 2) * d.n + fr.f[c / 2]] =
        mlp_detail::Convert<Element>::from_float(v);
  }
}

__device__ __forceinline__ void add_to(float4& a, const float4& b) {
  a.x += b.x;
  a.y += b.y;
  a.z += b.z;
  a.w += b.w;
}

// Cluster barrier halves: arrive (relaxed: orders nothing; release: this
// thread's shared-memory writes, peers' included, are seen by those that
// wait) and wait (acquire).
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

// One projection: out[m, n] = epilogue(a[m, k] . w^T). Grid: feature slabs
// x K blocks (a cluster along y) x token groups of 8 kNT. kHeld: steps of
// weights each warp holds in registers before it waits for the previous
// kernel (DecodeArgs::held_steps: the down projection of a small MLP loads
// up to three while the up projection runs, and with hold_weights asks L2
// for any further ones); 1 otherwise. At 16 tokens in wide slabs the held
// variant's registers (184) keep its blocks from starting beside the up
// projection's, so they start as those leave; narrow slabs (kNarrow,
// 100 registers) start beside them. Staging the held steps in
// shared memory instead (cp.async) was measured slower (H100, 2026-12-06):
// with the default L1/shared split the down blocks no longer started
// beside the up blocks even at 1 token (GPT-2 small 19.5 us against
// 14.5), and with all of it shared they did, but GPT-2 small was no faster
// (14.7 / 15.2 / 17.5 us at 1 / 8 / 16 tokens) and Llama-7B took 150 us
// instead of 106: too little L1 left for the weights' loads in flight.
template <typename Element, WeightLayout kLayout, bool kGated, bool kNarrow, int kNT, int kHeld>
__global__ void __launch_bounds__(kThreads, kHeld == 1 || kNarrow ? 2 : 1) mlp_decode_kernel(const DecodeArgs d) {
  using Weights = Slab<kLayout, kGated, kNarrow>;
  constexpr int kT = kTiles<kLayout, kNarrow>;
  constexpr int kTokens = 8 * kNT;
  extern __shared__ __align__(16) float4 smem[];  // the warps' sums, then the inbox (kFragments)

  const int lane = static_cast<int>(threadIdx.x) % 32, warp = static_cast<int>(threadIdx.x) / 32;
  const int g = lane / 4, t = lane % 4;
  const int slab = static_cast<int>(blockIdx.x);
  const int tok0 = static_cast<int>(blockIdx.z) * kTokens;
  const int steps = (d.k + Weights::kStepK - 1) / Weights::kStepK;
  const int first = static_cast<int>(blockIdx.y) * d.steps_per_block + warp;
  const int end = min(steps, static_cast<int>(blockIdx.y + 1) * d.steps_per_block);
  const int blocks = d.k_blocks;
  const int rank = static_cast<int>(blockIdx.y);  // the grid's y is one cluster

  // Peers write this block's shared memory only once every block of the
  // cluster has started: arrive now, wait before the first write.
  if (blocks > 1) cluster_arrive_relaxed();

  // The epilogue's bias and residual come from memory once the sums are
  // done: ask L2 for them now (L2 is coherent, so this is safe before the
  // wait for the previous kernel).
  if (warp == 0) prefetch_epilogue<kGated>(d, slab * Weights::kFeatures, Weights::kFeatures, tok0, kTokens, lane);

  const Weights weights(d, slab, g);
  typename Weights::Step held[kHeld];
  // The down projection holds steps first, first + kWarps, ... below
  // `rest` before it waits; the loop below loads the others one at a time.
  const int rest = d.weights_before_wait ? first + kHeld * kWarps : first;
  if (d.weights_before_wait) {
    // Its weights are no kernel's output (the up projection writes only
    // h), so they are fetched before h is ready.
#pragma unroll
    for (int i = 0; i < kHeld; ++i) {
      if (first + i * kWarps < end) weights.load(d, first + i * kWarps, t, held[i]);
    }
    if (d.hold_weights) {
      for (int step = rest; step < end; step += kWarps) weights.prefetch(d, slab, step, lane);
    }
    wait_for_previous_grid();
  } else {
    // x, biases and residual may be the previous kernel's output. The next
    // kernel launches once every block is past this wait, so it never runs
    // beside a kernel older than this one.
    wait_for_previous_grid();
    launch_next_grid();
  }

  float acc[kT][kNT][4] = {};
  // After the wait the held steps take 0.8 us (1 token) to 1.5 us (16
  // tokens) for GPT-2 small. Requesting all their activations before the
  // first mma did not shorten that (0.8 / 1.7 us, op no faster; H100,
  // 2026-12-06, mlp-decode-acts-first-*), so each step loads its own.
  if (d.weights_before_wait) {
#pragma unroll
    for (int i = 0; i < kHeld; ++i) {
      const int step = first + i * kWarps;
      if (step < end) weights.template mma<Element, kNT>(d, step, g, t, tok0, held[i], acc);
    }
  }
  // One step of weights in flight per warp at a time: the occupancy (16
  // warps per SM) keeps the memory pipe full. Requesting the next step
  // before each mma ([out, in] weights have the registers for it) measured
  // 2-3% slower for Llama-7B at 1-16 tokens (H100, 2026-12-06).
#pragma unroll 1
  for (int step = rest; step < end; step += kWarps) {
    weights.load(d, step, t, held[0]);
    weights.template mma<Element, kNT>(d, step, g, t, tok0, held[0], acc);
  }
  if (d.weights_before_wait) launch_next_grid();

  // The warps' sums in fragment order (see kFragments), then per fragment
  // the sum over the warps. With K split over the cluster, block r
  // finishes fragments [r slots, (r + 1) slots) (one block: all), thread
  // `threadIdx.x + j kThreads` of them the j-th; its epilogue inputs for
  // j < kEarly are loaded now, while the other warps finish.
  constexpr int kX = kFragments<kT, kNT>;
  const int slots = blocks > 1 ? inbox_slots<kT, kNT>(blocks) : kX;  // per owner
  constexpr int kEarly = 2;
  const auto owned = [&](int j) { return rank * slots + static_cast<int>(threadIdx.x) + j * kThreads; };
  const auto is_owned = [&](int j) { return static_cast<int>(threadIdx.x) + j * kThreads < slots && owned(j) < kX; };
  FragmentInputs early[kEarly];
#pragma unroll
  for (int j = 0; j < kEarly; ++j) {
    if (!is_owned(j)) continue;
    const Fragment fr = fragment_at<Weights, kNT>(d, slab, tok0, owned(j));
    if (fragment_valid(d, fr)) early[j] = load_fragment_inputs<Element, kGated>(d, fr);
  }

  float4* const warp_sums = smem;              // [kWarps][kX]
  float4* const inbox = smem + kWarps * kX;    // [block][slot]
#pragma unroll
  for (int i = 0; i < kT; ++i)
#pragma unroll
    for (int j = 0; j < kNT; ++j) {
      warp_sums[warp * kX + (i * kNT + j) * 32 + lane] = make_float4(acc[i][j][0], acc[i][j][1], acc[i][j][2], acc[i][j][3]);
    }
  __syncthreads();

  const auto block_sum = [&](int x) {
    float4 s = warp_sums[x];
#pragma unroll
    for (int w = 1; w < kWarps; ++w) add_to(s, warp_sums[w * kX + x]);
    return s;
  };
  // Calls fn(fragment, its epilogue inputs, j) for each valid fragment the
  // thread finishes. Inlined per path and per early fragment, the epilogue
  // (the activation's erf, tanh and exp among it) makes these kernels
  // 64-89 KB of code; finishing every fragment in one rolled loop after
  // both paths cut that to 27-42 KB but made GPT-2 small slower (15.1 /
  // 15.4 / 16.4 us at 1 / 8 / 16 tokens against 14.7 / 15.1 / 15.8 in the
  // same call; H100, 2026-12-06, mlp-decode-one-epilogue-*), so code size
  // is not what its epilogue waits on.
  const auto for_each_owned = [&](auto&& fn) {
#pragma unroll
    for (int j = 0; j < kEarly; ++j) {
      if (!is_owned(j)) continue;
      const Fragment fr = fragment_at<Weights, kNT>(d, slab, tok0, owned(j));
      if (fragment_valid(d, fr)) fn(fr, early[j], j);
    }
    // No launch reaches this loop today (a block has at most 2 kThreads
    // fragments); without it the kernels compiled to other registers and
    // GPT-2 small at 16 tokens measured 16.3 us against 16.0 in one A/B
    // (H100, 2026-12-06, mlp-decode-no-late-loop-*), so it stays.
    for (int j = kEarly; is_owned(j); ++j) {
      const Fragment fr = fragment_at<Weights, kNT>(d, slab, tok0, owned(j));
      if (fragment_valid(d, fr)) fn(fr, load_fragment_inputs<Element, kGated>(d, fr), j);
    }
  };

  if (blocks == 1) {
    for_each_owned([&](const Fragment& fr, const FragmentInputs& in, int j) {
      finish_fragment<Element, kGated>(d, fr, block_sum(owned(j)), in);
    });
    return;
  }

  // K split over the cluster: every block writes its sums of each valid
  // fragment into the owner's inbox (distributed shared memory, 16 bytes
  // per store; a warp's 32 stores mostly to one owner's consecutive
  // slots), then one cluster barrier, then each owner sums its inbox in
  // rank order (deterministic). Only the owner reads its inbox, so no
  // block waits for its peers before it exits.
  constexpr int kQ = (kX + kThreads - 1) / kThreads;
  float4 pushed[kQ];
#pragma unroll
  for (int q = 0; q < kQ; ++q) {
    const int x = static_cast<int>(threadIdx.x) + q * kThreads;
    if (x < kX && fragment_valid(d, fragment_at<Weights, kNT>(d, slab, tok0, x))) pushed[q] = block_sum(x);
  }
  cluster_wait();  // every block has started: its shared memory may be written
#pragma unroll
  for (int q = 0; q < kQ; ++q) {
    const int x = static_cast<int>(threadIdx.x) + q * kThreads;
    if (x >= kX || !fragment_valid(d, fragment_at<Weights, kNT>(d, slab, tok0, x))) continue;
    const int owner = x / slots;
    store_to_peer(inbox + rank * slots + (x - owner * slots), owner, pushed[q]);
  }
  cluster_arrive_release();
  cluster_wait();
  for_each_owned([&](const Fragment& fr, const FragmentInputs& in, int j) {
    const int slot = static_cast<int>(threadIdx.x) + j * kThreads;
    float4 s = inbox[slot];
    for (int b = 1; b < blocks; ++b) add_to(s, inbox[b * slots + slot]);
    finish_fragment<Element, kGated>(d, fr, s, in);
  });
}


#else

template <typename Element, WeightLayout kLayout, bool kGated, bool kNarrow, int kNT, int kHeld>
__global__ void mlp_decode_kernel(const DecodeArgs) {}

#endif

// ---- host -------------------------------------------------------------------

// One projection: clusters of 1 x k_blocks blocks along the grid's y,
// launched as a programmatic dependent of the stream's previous kernel.
template <typename Element, WeightLayout kLayout, bool kGated, bool kNarrow, int kNT, int kHeld>
void launch(const DecodeArgs& d, cudaStream_t stream) {
  constexpr int kT = kTiles<kLayout, kNarrow>;
  constexpr int kMostSmem = smem_bytes<kT, kNT>();
  auto* kernel = &mlp_decode_kernel<Element, kLayout, kGated, kNarrow, kNT, kHeld>;
  if (kMostSmem > 48 * 1024) {
    MLOPT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kMostSmem));
  }
  cudaLaunchConfig_t config{};
  config.gridDim = mlp_detail::decode_grid(d, kLayout);
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = smem_bytes<kT, kNT>(d.k_blocks);  // no inbox unsplit
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

template <typename Element, WeightLayout kLayout, bool kGated, bool kNarrow, int kHeld>
void launch_for_tokens(const DecodeArgs& d, cudaStream_t stream) {
  mlp_detail::decode_token_group(d.m) == 8 ? launch<Element, kLayout, kGated, kNarrow, 1, kHeld>(d, stream)
                                           : launch<Element, kLayout, kGated, kNarrow, 2, kHeld>(d, stream);
}

// The down projection: held steps and, for [in, out] weights, slab width.
template <typename Element, WeightLayout kLayout, bool kNarrow>
void launch_down(const DecodeArgs& down, cudaStream_t stream) {
  down.held_steps == mlp_detail::kDecodeHeldSteps
      ? launch_for_tokens<Element, kLayout, false, kNarrow, mlp_detail::kDecodeHeldSteps>(down, stream)
      : launch_for_tokens<Element, kLayout, false, kNarrow, 1>(down, stream);
}

// Both projections: the up projection (gated or not) into h, then the
// down projection from h. Only the down projection of [in, out] weights
// comes in narrow slabs (mlp_decode_plan.cpp says when).
template <typename Element, WeightLayout kLayout>
void run_decode_typed(const DecodeArgs& up, const DecodeArgs& down, cudaStream_t stream) {
  if (down.epilogue.gated || up.weights_before_wait || up.hold_weights || !down.weights_before_wait ||
      up.held_steps != 1 || (down.held_steps != 1 && down.held_steps != mlp_detail::kDecodeHeldSteps) || up.narrow ||
      (down.narrow && kLayout != WeightLayout::kInOut)) {
    throw std::invalid_argument("mlp: the decode kernels take a plain down projection that waits for h");
  }
  up.epilogue.gated ? launch_for_tokens<Element, kLayout, true, false, 1>(up, stream)
                    : launch_for_tokens<Element, kLayout, false, false, 1>(up, stream);
  if constexpr (kLayout == WeightLayout::kInOut) {
    if (down.narrow) {
      launch_down<Element, kLayout, true>(down, stream);
      return;
    }
  }
  launch_down<Element, kLayout, false>(down, stream);
}

}  // namespace mlopt::kernels::mlp_decode
