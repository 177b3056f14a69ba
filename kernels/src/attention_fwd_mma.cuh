#pragma once
// Attention forward, FlashAttention-2 style on mma.sync (sm_80+; built for
// and tuned on the H100). The default prefill kernel; attention_fwd.cuh
// (wmma) stays as a cross-check. Pieces, composed by a thin kernel:
//
//   MmaTileConfig<head_dim>  tile sizes, warps, the shared-memory layout
//   ptx::                    mma_sm80.cuh's cp.async / ldmatrix / mma.sync / packing, and ex2
//   load_tile                global -> padded shared rows (cp.async, zero-fill)
//   LaneAddress              each lane's ldmatrix row addresses
//   compute_scores           S = Q K^T into registers (fp32)
//   online_softmax<kMask>    mask (diagonal/tail tiles only), running max and
//                            sum in base 2, P = 2^(S - m) packed to 16 bits,
//                            O rescale
//   accumulate_pv            O += P V with P reused from registers
//   mainloop                 K/V double buffer: tile n-1 loads while n computes
//   epilogue                 O / l through shared memory -> out; lse
//
// Work split. A block owns kBlockM = 128 query rows of one (batch, q head)
// and walks the key tiles it can see; each of its 4 warps owns 32 of those
// rows (two m16 row atoms), so softmax state never leaves the warp and every
// K/V fragment read from shared memory feeds two mma's. S, P and O live in
// registers; only Q, K and V go through shared memory.
//
// Fragment layouts this file relies on (PTX ISA, "Matrix Fragments for
// mma.m16n8k16" with .f16/.bf16 inputs and .f32 accumulators, and
// "ldmatrix"). lane = 0..31, g = lane / 4 (groupID), t = lane % 4.
//   A (16 x 16, row-major), 4 x b32 per lane, each two 16-bit elements with
//   the lower column in the low half:
//     a[0] = A[g][2t, 2t+1]      a[1] = A[g+8][2t, 2t+1]
//     a[2] = A[g][2t+8, 2t+9]    a[3] = A[g+8][2t+8, 2t+9]
//   B (16 x 8, "col": k x n), 2 x b32:  b[0] = B[2t, 2t+1][g]   b[1] = B[2t+8, 2t+9][g]
//   C/D (16 x 8, fp32), 4 floats:
//     c[0], c[1] = C[g][2t], C[g][2t+1]     c[2], c[3] = C[g+8][2t], C[g+8][2t+1]
//   ldmatrix.m8n8.x4.b16: lanes 8i..8i+7 give the addresses of rows 0..7 of
//     matrix i (16 contiguous bytes each); register r[i] of lane l receives
//     M_i[l/4][2(l%4), 2(l%4)+1]. With .trans it receives M_i[2(l%4)][l/4]
//     and M_i[2(l%4)+1][l/4] (the transpose).
//
// So, with Q, K and V stored [row][head_dim] in shared memory:
//   Q as A:  matrix i = rows r0 + 8(i%2) .. +7, columns k0 + 8(i/2) .. +7, so
//            lane l addresses row r0 + (l % 16), column k0 + 8 (l / 16).
//   K as B of S = Q K^T (B[k=d][n=key] = K[key][d], i.e. each column of B is
//            a contiguous K row): matrix i = keys n0 + 8(i/2) .. +7,
//            dims k0 + 8(i%2) .. +7; r[0], r[1] are b[0], b[1] of the n8 atom
//            of keys n0..n0+7 and r[2], r[3] those of keys n0+8..n0+15.
//            Lane l addresses key n0 + (l % 8) + 8 (l / 16), dim k0 + 8 ((l / 8) % 2).
//   V as B of O = P V (B[k=key][n=d] = V[key][d]: B's columns are strided,
//            hence .trans): matrix i = keys k0 + 8(i%2) .. +7, dims
//            n0 + 8(i/2) .. +7; r[0], r[1] feed the n8 atom of dims n0..n0+7
//            and r[2], r[3] that of dims n0+8..n0+15. Lane l addresses
//            key k0 + (l % 16), dim n0 + 8 (l / 16) (the same pattern as Q).
//   P as A of O = P V, straight from the S accumulators (the FA2 trick): the
//            16 x 16 A block for keys 16j..16j+15 is the pair of n8 atoms
//            2j (keys +0..7) and 2j+1 (keys +8..15) of S:
//              a[0] = pack(S_2j[0], S_2j[1])        (row g,   keys 2t, 2t+1)
//              a[1] = pack(S_2j[2], S_2j[3])        (row g+8, keys 2t, 2t+1)
//              a[2] = pack(S_2j+1[0], S_2j+1[1])    (row g,   keys 8+2t, 9+2t)
//              a[3] = pack(S_2j+1[2], S_2j+1[3])    (row g+8, keys 8+2t, 9+2t)
//            so P never touches shared memory.
// Each lane therefore holds, per row atom, two query rows (g and g+8) and,
// per n8 atom, two adjacent keys of each; a row's max and sum reduce over the
// 4 lanes of a quad (shuffles with xor 1 and 2).
//
// Shared-memory layout. Every tile is [row][head_dim] with rows padded by 8
// elements (16 bytes): 144-byte rows (hdim 64), 272-byte rows (hdim 128).
// Each 8x8 ldmatrix matrix reads 16 bytes from each of 8 consecutive rows;
// with a row pitch of 16 bytes modulo the 128-byte bank width, those land on
// 8 different 16-byte bank groups: no bank conflicts. Padding rather than an
// XOR swizzle keeps every ldmatrix address a per-lane base plus a
// compile-time offset, which saves registers the accumulators need.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "mlopt/kernels/attention.h"
#include "mlopt/kernels/cuda_check.h"
#include "mma_sm80.cuh"

namespace mlopt::kernels::attention_fwd_mma {

// Tile sizes: 128 queries x 64 keys per step, 4 warps x 32 rows, for both
// head dims. Per thread the S accumulators take 64 fp32 registers and O
// head_dim registers.
//   hdim 128: 255 registers (S 64 + O 128), 102 KB shared (Q + two K and two
//             V stages, padded rows): 2 blocks per H100 SM.
//   hdim  64: capped at 168 registers by __launch_bounds__ (no spills), 54 KB
//             shared: 3 blocks per SM, so one block's loads and softmax
//             overlap the others' tensor-core work. 128-key tiles (the FA2
//             choice on A100) at 2 blocks per SM (255 registers, no spills)
//             were measured against this on an H100 (bf16, 16k tokens,
//             2026-11-25, two alternating runs each): 3-4% slower at 512 and
//             1k tokens and in the causal cases, ~2% faster at 4k, even
//             elsewhere; so 64-key tiles stay.
template <int kHeadDim_>
struct MmaTileConfig {
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kBlockM = 128;
  static constexpr int kBlockN = 64;
  static constexpr int kWarps = 4;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kMinBlocksPerSm = kHeadDim <= 64 ? 3 : 2;
  static constexpr int kMAtoms = kBlockM / (kWarps * 16);  // m16 row atoms per warp
  static constexpr int kRowsPerWarp = kMAtoms * 16;
  static constexpr int kNAtoms = kBlockN / 8;     // n8 atoms of S per row atom
  static constexpr int kDAtoms = kHeadDim / 8;    // n8 atoms of O per row atom
  static constexpr int kRowChunks = kHeadDim / 8;  // 16-byte chunks of data per row
  static constexpr int kRowBytes = (kHeadDim + 8) * 2;  // one padded 16-bit row in shared memory
  static constexpr int kStages = 2;               // K/V double buffer

  static constexpr int kQOffset = 0;
  static constexpr int kKVTileBytes = kBlockN * kRowBytes;
  static constexpr int kKOffset = kQOffset + kBlockM * kRowBytes;
  static constexpr int kVOffset = kKOffset + kStages * kKVTileBytes;
  static constexpr int kSmemBytes = kVOffset + kStages * kKVTileBytes;

  static_assert(kHeadDim % 16 == 0, "whole k16 steps of Q K^T and n16 ldmatrix steps of P V");
  static_assert(kRowBytes % 128 == 16, "row pitch of 16 bytes modulo the banks: conflict-free ldmatrix");
  static_assert(kMAtoms * kWarps * 16 == kBlockM, "whole m16 atoms per warp");
  static_assert(kBlockN % 16 == 0, "key tiles are whole k16 steps of P V");
  static_assert(kBlockM % (kThreads / kRowChunks) == 0 && kBlockN % (kThreads / kRowChunks) == 0,
                "tile loads are whole passes of the block");
  static_assert(kSmemBytes <= 227 * 1024, "fits one block's shared memory on sm_90");
};

// Which (batch x q head, query tile) each block computes, i.e. the order
// in which the hardware starts them (blockIdx.x fastest, then y). Every
// block streams all the K/V its tile sees; blocks that run at the same time
// on the same kv head share those reads in L2, blocks on different heads do
// not. So the (batch x q head) rows are cut into chunks of whole GQA groups
// (the q heads of one kv head), the chunks run one after the other, and
// within a chunk the query tiles run heaviest first (the last tile, which
// sees the most keys under the causal mask), all heads of the chunk at one
// tile rank before the next rank:
//   non-causal: one group per chunk (every tile costs the same, so the only
//     concern is K/V reuse: all the tiles of one kv head run together, as
//     in FlashAttention-2);
//   causal: chunks large enough (>= kCausalChunkWaves x the resident
//     blocks' worth of tiles) that heaviest-first within each chunk still
//     balances the tail: the last chunk's heavy tiles start early enough to
//     end with the rest.
// With a single chunk this is the plain heads-fastest, tiles-reversed order.
// The first `wide_chunks` chunks hold groups_per_chunk + 1 groups, the rest
// groups_per_chunk (>= 1).
struct BlockOrder {
  int group_heads;       // q heads per kv head (consecutive (batch x q head) rows share a kv head)
  int groups_per_chunk;  // >= 1
  int wide_chunks;       // chunks with one group more
};

// What the kernel gets beside the user's params.
struct MmaArgs {
  AttentionParams p;
  float scale_log2;  // softmax_scale * log2(e): the softmax runs in base 2
  bool vec_qkv;      // q/k/v 16-byte aligned, batch/head/row strides multiples of 8: 16-byte cp.async
  bool vec_out;      // out likewise: 16-byte stores
  BlockOrder order;
};

// cp.async, ldmatrix, mma.sync and packing: mma_sm80.cuh.
namespace ptx {
using namespace sm80;
// 2^x on the SFU; 2^-inf = +0.
__device__ __forceinline__ float exp2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}
}  // namespace ptx

// Byte offset of 16-byte chunk `chunk` of row `row` in a shared tile.
template <class Cfg>
__device__ __forceinline__ int smem_offset(int row, int chunk) {
  return row * Cfg::kRowBytes + chunk * 16;
}

// Rows [0, kRows) of a [rows, head_dim] global tile (row stride in elements)
// into a shared tile. Rows >= valid_rows become zeros, so that they
// add exact zeros (never stale NaNs) to P V and to masked scores.
// Vectorized: asynchronous 16-byte cp.async (the caller commits and waits).
// Otherwise (unaligned pointers or strides): synchronous 2-byte loads.
// kFull: the caller knows valid_rows >= kRows, so the vectorized path skips
// the per-row checks (the mainloop's K/V tiles, all but the first loaded).
template <class Cfg, int kRows, bool kFull = false>
__device__ __forceinline__ void load_tile(unsigned char* smem_tile, const uint16_t* gmem, int64_t row_stride,
                                          int valid_rows, bool vectorized) {
  if (vectorized) {
    constexpr int kRowsPerPass = Cfg::kThreads / Cfg::kRowChunks;
    const int chunk = threadIdx.x % Cfg::kRowChunks;
    const int row0 = threadIdx.x / Cfg::kRowChunks;
    const uint32_t dst = ptx::smem_address(smem_tile);
#pragma unroll
    for (int pass = 0; pass < kRows / kRowsPerPass; ++pass) {
      const int row = row0 + pass * kRowsPerPass;
      const bool valid = kFull || row < valid_rows;
      // A row past the end reads nothing; point it at row 0 (always valid).
      const uint16_t* src = gmem + (valid ? row * row_stride + chunk * 8 : 0);
      ptx::cp_async_16(dst + smem_offset<Cfg>(row, chunk), src, valid);
    }
  } else {
    for (int e = threadIdx.x; e < kRows * Cfg::kHeadDim; e += Cfg::kThreads) {
      const int row = e / Cfg::kHeadDim;
      const int col = e % Cfg::kHeadDim;
      const uint16_t value = row < valid_rows ? gmem[row * row_stride + col] : uint16_t{0};
      *reinterpret_cast<uint16_t*>(smem_tile + smem_offset<Cfg>(row, col / 8) + (col % 8) * 2) = value;
    }
  }
}

// Each lane's ldmatrix addresses (see the layout notes at the top) at
// row/column step 0: every fragment's address is one of these plus a
// compile-time offset.
template <class Cfg>
struct LaneAddress {
  uint32_t q;  // Q (A pattern): shared address of row warp*32 + lane%16, chunk lane/16
  uint32_t k;  // K (B pattern): key lane%8 + 8*(lane/16), chunk (lane/8)%2; relative to the K tile
  uint32_t v;  // V (A pattern, .trans): key lane%16, chunk lane/16; relative to the V tile

  __device__ __forceinline__ explicit LaneAddress(const unsigned char* smem) {
    const int lane = threadIdx.x % 32;
    const int warp = threadIdx.x / 32;
    q = ptx::smem_address(smem + Cfg::kQOffset) + smem_offset<Cfg>(warp * Cfg::kRowsPerWarp + lane % 16, lane / 16);
    k = smem_offset<Cfg>(lane % 8 + 8 * (lane / 16), (lane / 8) % 2);
    v = smem_offset<Cfg>(lane % 16, lane / 16);
  }
};

// S[kMAtoms x 16 rows][kBlockN keys] = Q K^T for this warp's rows, fp32.
// `k_tile` is the shared address of the K stage.
template <class Cfg, typename Element>
__device__ __forceinline__ void compute_scores(float (&s)[Cfg::kMAtoms][Cfg::kNAtoms][4], const LaneAddress<Cfg>& la,
                                               uint32_t k_tile) {
#pragma unroll
  for (int mi = 0; mi < Cfg::kMAtoms; ++mi)
#pragma unroll
    for (int nj = 0; nj < Cfg::kNAtoms; ++nj)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[mi][nj][e] = 0.0f;

  const uint32_t k_lane = k_tile + la.k;
#pragma unroll
  for (int kk = 0; kk < Cfg::kHeadDim / 16; ++kk) {
    uint32_t a[Cfg::kMAtoms][4];
#pragma unroll
    for (int mi = 0; mi < Cfg::kMAtoms; ++mi) {
      ptx::ldmatrix_x4(a[mi], la.q + smem_offset<Cfg>(mi * 16, 2 * kk));
    }
#pragma unroll
    for (int nj = 0; nj < Cfg::kBlockN / 16; ++nj) {
      uint32_t b[4];
      ptx::ldmatrix_x4(b, k_lane + smem_offset<Cfg>(nj * 16, 2 * kk));
#pragma unroll
      for (int mi = 0; mi < Cfg::kMAtoms; ++mi) {
        ptx::mma_16816<Element>(s[mi][2 * nj], a[mi], b[0], b[1]);
        ptx::mma_16816<Element>(s[mi][2 * nj + 1], a[mi], b[2], b[3]);
      }
    }
  }
}

// Per-thread softmax state of its 2 * kMAtoms query rows (row atom mi, half
// h: tile row warp*32 + 16*mi + lane/4 + 8*h).
template <class Cfg>
struct SoftmaxState {
  float m[Cfg::kMAtoms][2];  // running max of the scaled scores, log2 units; -inf before any visible key
  float l[Cfg::kMAtoms][2];  // running sum of 2^(x - m) over this lane's keys only (the quad sums at the end)
};

// Which keys a lane's rows see on a masked tile: key j is visible to the
// row of atom mi, half h when j < min(kv_len, first + step * (16 mi + 8 h)).
// Built only on masked tiles, so nothing of it stays live across the loop.
struct RowLimit {
  int first;   // the lane's row (atom 0, half 0): query + kv_len - q_len + 1 (causal), else kv_len
  int step;    // 1 under the causal mask (a later row sees one key more), else 0
  int kv_len;  // the kv_len tail
  __device__ __forceinline__ int operator()(int mi, int h) const {
    return min(kv_len, first + step * (16 * mi + 8 * h));
  }
};

// One key tile of the online softmax: S (raw dot products) becomes
// P = 2^(scale_log2 * S - m_new), rounded to the input dtype into `pk`, the
// state moves to the new max (l sums the unrounded P), and O is rescaled by
// 2^(m_old - m_new). With kMask, key j of a row is kept only if
// j < limit of that row (the kv_len tail and the causal diagonal); tiles
// without kMask are fully visible and carry no per-element checks.
//
// kRawMax (chosen at launch when scale_log2 > 0, the normal case): scaling
// is then monotonic, so the tile's max is taken over the raw scores and
// scaled once, and each element costs one FFMA, s * scale_log2 - m, before
// its exp2 (as in FlashAttention-2) instead of a multiply and a subtract.
// Without it (scale <= 0: the largest score is the smallest dot product,
// and 0 * -inf would be NaN) the scores are scaled first, as written.
template <class Cfg, typename Element, bool kMask, bool kRawMax>
__device__ __forceinline__ void online_softmax(float (&s)[Cfg::kMAtoms][Cfg::kNAtoms][4],
                                               uint32_t (&pk)[Cfg::kMAtoms][Cfg::kNAtoms][2],
                                               float (&o)[Cfg::kMAtoms][Cfg::kDAtoms][4], SoftmaxState<Cfg>& st,
                                               float scale_log2, int lane_key0, const RowLimit& limit) {
  float alpha[Cfg::kMAtoms][2];
  bool rescale = false;
#pragma unroll
  for (int mi = 0; mi < Cfg::kMAtoms; ++mi) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float m_tile = -INFINITY;  // raw (kRawMax) or scaled
#pragma unroll
      for (int nj = 0; nj < Cfg::kNAtoms; ++nj) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          float x = s[mi][nj][2 * h + e];
          if constexpr (!kRawMax) x *= scale_log2;
          // A raw -inf stays -inf through the FFMA below (scale_log2 > 0).
          if (kMask && lane_key0 + nj * 8 + e >= limit(mi, h)) x = -INFINITY;
          s[mi][nj][2 * h + e] = x;
          m_tile = fmaxf(m_tile, x);
        }
      }
      // The 4 lanes of a quad hold the same row.
      m_tile = fmaxf(m_tile, __shfl_xor_sync(0xffffffffu, m_tile, 1));
      m_tile = fmaxf(m_tile, __shfl_xor_sync(0xffffffffu, m_tile, 2));
      const float m_new = fmaxf(st.m[mi][h], kRawMax ? m_tile * scale_log2 : m_tile);
      // No visible key yet (m_new = -inf): subtract 0 instead, so that
      // 2^(-inf - 0) = 0 rather than NaN. alpha is exactly 1 when the max
      // did not move, which the rescale skip below relies on.
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;
      alpha[mi][h] = ptx::exp2_approx(st.m[mi][h] - m_use);  // 0 while m_old = -inf
      rescale |= alpha[mi][h] != 1.0f;
      st.m[mi][h] = m_new;
      float sum = 0.0f;
#pragma unroll
      for (int nj = 0; nj < Cfg::kNAtoms; ++nj) {
        float pj[2];
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const float x = s[mi][nj][2 * h + e];
          pj[e] = ptx::exp2_approx(kRawMax ? fmaf(x, scale_log2, -m_use) : x - m_use);
          sum += pj[e];
        }
        // Rounded to the input dtype right away: the P V operand takes half
        // the registers of the fp32 scores it replaces.
        pk[mi][nj][h] = ptx::pack2<Element>(pj[0], pj[1]);
      }
      st.l[mi][h] = st.l[mi][h] * alpha[mi][h] + sum;
    }
  }
  // Once the row maxima settle most tiles leave them unchanged; skip the
  // O rescale then (the vote keeps the branch warp-uniform).
  if (__any_sync(0xffffffffu, rescale)) {
#pragma unroll
    for (int mi = 0; mi < Cfg::kMAtoms; ++mi)
#pragma unroll
      for (int dj = 0; dj < Cfg::kDAtoms; ++dj) {
        o[mi][dj][0] *= alpha[mi][0];
        o[mi][dj][1] *= alpha[mi][0];
        o[mi][dj][2] *= alpha[mi][1];
        o[mi][dj][3] *= alpha[mi][1];
      }
  }
}

// O += P V: P (already packed as A fragments by online_softmax) used as the
// A operand directly; V fragments by ldmatrix.trans from `v_tile`.
template <class Cfg, typename Element>
__device__ __forceinline__ void accumulate_pv(const uint32_t (&pk)[Cfg::kMAtoms][Cfg::kNAtoms][2],
                                              float (&o)[Cfg::kMAtoms][Cfg::kDAtoms][4], const LaneAddress<Cfg>& la,
                                              uint32_t v_tile) {
  const uint32_t v_lane = v_tile + la.v;
#pragma unroll
  for (int kk = 0; kk < Cfg::kBlockN / 16; ++kk) {
    uint32_t a[Cfg::kMAtoms][4];
#pragma unroll
    for (int mi = 0; mi < Cfg::kMAtoms; ++mi) {
      a[mi][0] = pk[mi][2 * kk][0];
      a[mi][1] = pk[mi][2 * kk][1];
      a[mi][2] = pk[mi][2 * kk + 1][0];
      a[mi][3] = pk[mi][2 * kk + 1][1];
    }
#pragma unroll
    for (int dj = 0; dj < Cfg::kHeadDim / 16; ++dj) {
      uint32_t b[4];
      ptx::ldmatrix_x4_trans(b, v_lane + smem_offset<Cfg>(kk * 16, 2 * dj));
#pragma unroll
      for (int mi = 0; mi < Cfg::kMAtoms; ++mi) {
        ptx::mma_16816<Element>(o[mi][2 * dj], a[mi], b[0], b[1]);
        ptx::mma_16816<Element>(o[mi][2 * dj + 1], a[mi], b[2], b[3]);
      }
    }
  }
}

// Where this block works. Kept in shared memory and read there at each use:
// derived from the launch position by 64-bit divisions (block_work), these
// cannot be recomputed cheaply, and more registers live across the mainloop
// make the compiler spill accumulators.
struct BlockCoords {
  int64_t k_offset;  // elements from p.k to this block's (batch, kv head)
  int64_t v_offset;  // likewise from p.v
  int batch;
  int head;
  int m_start;  // first query row of the tile
};

// Key tiles 0 .. n_blocks-1 (n_blocks >= 1), walked from the last one down:
// the tiles that need masking (the kv_len tail, the causal diagonal) are
// the highest ones, so they come first and the rest run the unmasked path.
// Pipeline: Q and the first K/V tile load up front; at the top of each step
// the block waits for the current tile, syncs (which also retires every
// warp's reads of the other stage), then starts the next tile's K and V
// into the other stage, so those loads overlap this step's whole Q K^T,
// softmax and P V.
template <class Cfg, typename Element, bool kRawMax>
__device__ __forceinline__ void mainloop(const MmaArgs& args, unsigned char* smem, const BlockCoords& at,
                                         int n_blocks, float (&o)[Cfg::kMAtoms][Cfg::kDAtoms][4],
                                         SoftmaxState<Cfg>& st) {
  const AttentionParams& p = args.p;
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const int causal_offset = p.kv_len - p.q_len;  // bottom-right alignment

  const int m_start = at.m_start;
  const auto* q_g = static_cast<const uint16_t*>(p.q) + at.batch * p.q_strides.batch + at.head * p.q_strides.head +
                    m_start * p.q_strides.row;
  // K/V tile n into `stage`. The offsets are read from shared memory and
  // the kernel parameters on every call rather than kept in registers
  // across the loop (the accumulators need them all). `full` (a
  // std::bool_constant): every row of the tile is below kv_len.
  auto load_kv = [&](int n, int stage, auto full) {
    const int valid = min(Cfg::kBlockN, p.kv_len - n * Cfg::kBlockN);
    const int64_t key0 = int64_t{n} * Cfg::kBlockN;
    load_tile<Cfg, Cfg::kBlockN, decltype(full)::value>(
        smem + Cfg::kKOffset + stage * Cfg::kKVTileBytes,
        static_cast<const uint16_t*>(p.k) + at.k_offset + key0 * p.k_strides.row, p.k_strides.row, valid,
        args.vec_qkv);
    load_tile<Cfg, Cfg::kBlockN, decltype(full)::value>(
        smem + Cfg::kVOffset + stage * Cfg::kKVTileBytes,
        static_cast<const uint16_t*>(p.v) + at.v_offset + key0 * p.v_strides.row, p.v_strides.row, valid,
        args.vec_qkv);
  };

  load_tile<Cfg, Cfg::kBlockM>(smem + Cfg::kQOffset, q_g, p.q_strides.row, min(Cfg::kBlockM, p.q_len - m_start),
                               args.vec_qkv);
  load_kv(n_blocks - 1, 0, std::false_type{});  // may hold the kv_len tail
  ptx::cp_async_commit();

  const LaneAddress<Cfg> la(smem);
  const uint32_t k_smem = ptx::smem_address(smem + Cfg::kKOffset);
  const uint32_t v_smem = ptx::smem_address(smem + Cfg::kVOffset);

  for (int step = 0; step < n_blocks; ++step) {
    const int n = n_blocks - 1 - step;
    const int stage = step & 1;
    ptx::cp_async_wait<0>();
    __syncthreads();
    if (n > 0) {
      // Keys (n-1)*kBlockN .. n*kBlockN - 1 all lie below kv_len: only the
      // highest tile, n_blocks - 1, can be partial.
      load_kv(n - 1, stage ^ 1, std::true_type{});
      ptx::cp_async_commit();
    }

    float s[Cfg::kMAtoms][Cfg::kNAtoms][4];
    uint32_t pk[Cfg::kMAtoms][Cfg::kNAtoms][2];  // P in the input dtype, as mma A halves (see the top)
    compute_scores<Cfg, Element>(s, la, k_smem + stage * Cfg::kKVTileBytes);

    const int key_end = (n + 1) * Cfg::kBlockN;  // one past this tile's last key
    const bool needs_mask = key_end > p.kv_len || (p.causal && key_end - 1 > at.m_start + causal_offset);
    const int lane_key0 = n * Cfg::kBlockN + 2 * (lane % 4);  // this lane's first key column in the tile
    if (needs_mask) {
      const int query = at.m_start + warp * Cfg::kRowsPerWarp + lane / 4;  // the lane's row of atom 0, half 0
      const RowLimit limit{p.causal ? query + causal_offset + 1 : p.kv_len, p.causal ? 1 : 0, p.kv_len};
      online_softmax<Cfg, Element, true, kRawMax>(s, pk, o, st, args.scale_log2, lane_key0, limit);
    } else {
      online_softmax<Cfg, Element, false, kRawMax>(s, pk, o, st, args.scale_log2, lane_key0, RowLimit{});
    }

    accumulate_pv<Cfg, Element>(pk, o, la, v_smem + stage * Cfg::kKVTileBytes);
  }
}

// out = O / l in the input dtype, lse = (m + log2 l) ln 2; a row that saw no
// key (l = 0) gets zeros and lse = -inf. Rows past q_len are not written.
// Each warp stages its 32 rows in its own rows of the Q tile (no other warp
// reads them, so a __syncwarp suffices), then writes whole 16-byte chunks:
// lanes 0..15 / 16..31 cover one 256-byte row (hdim 128) each.
template <class Cfg, typename Element>
__device__ __forceinline__ void epilogue(const MmaArgs& args, unsigned char* smem, const BlockCoords& at,
                                         const float (&o)[Cfg::kMAtoms][Cfg::kDAtoms][4],
                                         const SoftmaxState<Cfg>& st) {
  const AttentionParams& p = args.p;
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const int batch = at.batch;
  const int head = at.head;
  const int warp_row0 = at.m_start + warp * Cfg::kRowsPerWarp;  // query index of the warp's first row

  float inv_l[Cfg::kMAtoms][2];
#pragma unroll
  for (int mi = 0; mi < Cfg::kMAtoms; ++mi)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float l = st.l[mi][h];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      inv_l[mi][h] = l > 0.0f ? 1.0f / l : 0.0f;
      const int query = warp_row0 + mi * 16 + lane / 4 + 8 * h;
      if (p.lse != nullptr && lane % 4 == 0 && query < p.q_len) {
        p.lse[(int64_t{batch} * p.q_heads + head) * p.q_len + query] =
            l > 0.0f ? (st.m[mi][h] + log2f(l)) * 0.6931471805599453f : -INFINITY;
      }
    }

  unsigned char* stage = smem + Cfg::kQOffset + warp * Cfg::kRowsPerWarp * Cfg::kRowBytes;
  __syncwarp();  // this warp's ldmatrix reads of its Q rows are done
#pragma unroll
  for (int mi = 0; mi < Cfg::kMAtoms; ++mi)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = mi * 16 + lane / 4 + 8 * h;
#pragma unroll
      for (int dj = 0; dj < Cfg::kDAtoms; ++dj) {
        // C layout: columns 8*dj + 2t, 2t+1, i.e. bytes 4t.. of chunk dj.
        *reinterpret_cast<uint32_t*>(stage + smem_offset<Cfg>(row, dj) + 4 * (lane % 4)) =
            ptx::pack2<Element>(o[mi][dj][2 * h] * inv_l[mi][h], o[mi][dj][2 * h + 1] * inv_l[mi][h]);
      }
    }
  __syncwarp();

  auto* out = static_cast<uint16_t*>(p.out) + batch * p.out_strides.batch + head * p.out_strides.head;
#pragma unroll
  for (int i = 0; i < Cfg::kRowsPerWarp * Cfg::kRowChunks / 32; ++i) {
    const int idx = i * 32 + lane;
    const int row = idx / Cfg::kRowChunks;
    const int chunk = idx % Cfg::kRowChunks;
    const int query = warp_row0 + row;
    if (query >= p.q_len) continue;
    const uint4 value = *reinterpret_cast<const uint4*>(stage + smem_offset<Cfg>(row, chunk));
    uint16_t* dst = out + query * p.out_strides.row + chunk * 8;
    if (args.vec_out) {
      *reinterpret_cast<uint4*>(dst) = value;
    } else {
      uint16_t parts[8];
      memcpy(parts, &value, sizeof parts);
#pragma unroll
      for (int e = 0; e < 8; ++e) dst[e] = parts[e];
    }
  }
}

// The (batch x q head) row and query tile rank (0 = the last tile) of the
// block at launch position `position` (0 .. rows x tiles - 1); see
// BlockOrder. A bijection onto (row, rank), so every pair runs once.
// `Index` must hold rows x tiles: the kernel uses 32-bit unsigned
// arithmetic when it does (several times cheaper divisions), else 64-bit.
struct BlockWork {
  int64_t head_row;
  int rank;
};
template <typename Index>
__host__ __device__ inline BlockWork block_work(const BlockOrder& order, Index position, Index tiles) {
  const Index wide_heads = static_cast<Index>(order.groups_per_chunk + 1) * static_cast<Index>(order.group_heads);
  const Index wide_blocks = static_cast<Index>(order.wide_chunks) * wide_heads * tiles;
  Index chunk_heads, first_head, offset;
  if (position < wide_blocks) {
    chunk_heads = wide_heads;
    const Index chunk = position / (chunk_heads * tiles);
    first_head = chunk * chunk_heads;
    offset = position - chunk * chunk_heads * tiles;
  } else {
    chunk_heads = static_cast<Index>(order.groups_per_chunk) * static_cast<Index>(order.group_heads);
    const Index rest = position - wide_blocks;
    const Index chunk = rest / (chunk_heads * tiles);
    first_head = static_cast<Index>(order.wide_chunks) * wide_heads + chunk * chunk_heads;
    offset = rest - chunk * chunk_heads * tiles;
  }
  return {static_cast<int64_t>(first_head + offset % chunk_heads), static_cast<int>(offset / chunk_heads)};
}

// One block per (batch x q head, query tile), in the order BlockOrder
// describes.
template <class Cfg, typename Element, bool kRawMax>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocksPerSm) attention_fwd_mma_kernel(const MmaArgs args) {
  extern __shared__ __align__(128) unsigned char smem[];
  const AttentionParams& p = args.p;
  __shared__ BlockCoords at;
  if (threadIdx.x == 0) {
    // Launch order: blockIdx.x fastest; the grid is (batch x q heads, query
    // tiles) with batch x q heads <= INT_MAX.
    const uint64_t blocks = uint64_t{gridDim.x} * gridDim.y;
    const uint64_t position = uint64_t{blockIdx.y} * gridDim.x + blockIdx.x;
    const BlockWork work = blocks <= UINT32_MAX
                               ? block_work<uint32_t>(args.order, static_cast<uint32_t>(position), gridDim.y)
                               : block_work<int64_t>(args.order, static_cast<int64_t>(position), gridDim.y);
    const auto head_row = static_cast<uint32_t>(work.head_row);  // < 2^31
    const int head = static_cast<int>(head_row % static_cast<uint32_t>(p.q_heads));
    const int batch = static_cast<int>(head_row / static_cast<uint32_t>(p.q_heads));
    const int kv_head = head / (p.q_heads / p.kv_heads);
    at = {batch * p.k_strides.batch + kv_head * p.k_strides.head,
          batch * p.v_strides.batch + kv_head * p.v_strides.head, batch, head,
          static_cast<int>(gridDim.y - 1 - work.rank) * Cfg::kBlockM};
  }
  __syncthreads();
  const int m_start = at.m_start;

  // Keys the tile needs: all, or under the causal mask up to the last key
  // its last valid query sees; 0 tiles when no query of the tile sees a key.
  int n_end = p.kv_len;
  if (p.causal) {
    const int last_query = min(m_start + Cfg::kBlockM, p.q_len) - 1;
    n_end = max(0, min(p.kv_len, last_query + (p.kv_len - p.q_len) + 1));
  }
  const int n_blocks = (n_end + Cfg::kBlockN - 1) / Cfg::kBlockN;

  float o[Cfg::kMAtoms][Cfg::kDAtoms][4];
  SoftmaxState<Cfg> st;
#pragma unroll
  for (int mi = 0; mi < Cfg::kMAtoms; ++mi) {
#pragma unroll
    for (int dj = 0; dj < Cfg::kDAtoms; ++dj)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[mi][dj][e] = 0.0f;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      st.m[mi][h] = -INFINITY;
      st.l[mi][h] = 0.0f;
    }
  }

  if (n_blocks > 0) mainloop<Cfg, Element, kRawMax>(args, smem, at, n_blocks, o, st);
  epilogue<Cfg, Element>(args, smem, at, o, st);
}

inline bool aligned16(const void* pointer) { return reinterpret_cast<std::uintptr_t>(pointer) % 16 == 0; }
inline bool strides_multiple_of_8(const TensorStrides& s) {
  return s.batch % 8 == 0 && s.head % 8 == 0 && s.row % 8 == 0;
}

// The chunking BlockOrder describes, for heads_total = batch x q_heads rows
// in groups of group_heads, m_blocks query tiles per row and about
// resident_blocks blocks running at once.
inline BlockOrder plan_block_order(int64_t heads_total, int group_heads, int64_t m_blocks, bool causal,
                                   int64_t resident_blocks) {
  const int64_t groups = heads_total / group_heads;
  int64_t min_groups = 1;
  if (causal) {
    // Heaviest-first (LPT) keeps the tail short when a chunk's work spread
    // over the resident blocks outlasts its heaviest tile (about twice the
    // average under the causal mask): chunk_heads * m_blocks >= 2 x resident.
    // A very large value here gives one chunk: the plain global
    // heaviest-first order, with no K/V reuse between running blocks.
    constexpr int64_t kCausalChunkWaves = 2;
    const int64_t min_heads = (kCausalChunkWaves * resident_blocks + m_blocks - 1) / m_blocks;
    min_groups = (min_heads + group_heads - 1) / group_heads;
  }
  const int64_t chunks = std::max<int64_t>(1, groups / std::max<int64_t>(1, min_groups));
  return {group_heads, static_cast<int>(groups / chunks), static_cast<int>(groups % chunks)};
}

// Host launcher for one (head_dim, dtype); params already validated.
template <int kHeadDim, typename Element>
void launch_attention_fwd_mma(const AttentionParams& p, cudaStream_t stream) {
  using Cfg = MmaTileConfig<kHeadDim>;
  const int64_t heads_total = int64_t{p.batch} * p.q_heads;
  const int64_t m_blocks = (int64_t{p.q_len} + Cfg::kBlockM - 1) / Cfg::kBlockM;
  if (heads_total > INT_MAX || m_blocks > 65535) {
    throw std::invalid_argument("attention: batch * q_heads must be at most " + std::to_string(INT_MAX) +
                                " and q_len at most " + std::to_string(65535 * Cfg::kBlockM) +
                                " (grid limits), got batch " + std::to_string(p.batch) + ", q_heads " +
                                std::to_string(p.q_heads) + ", q_len " + std::to_string(p.q_len));
  }
  int device = 0, major = 0;
  MLOPT_CUDA_CHECK(cudaGetDevice(&device));
  MLOPT_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  if (major < 8) {
    throw std::invalid_argument("attention: the mma.sync prefill kernel needs compute capability 8.0 or newer; "
                                "this device is " + std::to_string(major) + ".x");
  }

  int multiprocessors = 0;
  MLOPT_CUDA_CHECK(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, device));
  const int64_t resident_blocks = int64_t{multiprocessors} * Cfg::kMinBlocksPerSm;

  const MmaArgs args{p, p.softmax_scale * 1.4426950408889634f,
                     aligned16(p.q) && aligned16(p.k) && aligned16(p.v) && strides_multiple_of_8(p.q_strides) &&
                         strides_multiple_of_8(p.k_strides) && strides_multiple_of_8(p.v_strides),
                     aligned16(p.out) && strides_multiple_of_8(p.out_strides),
                     plan_block_order(heads_total, p.q_heads / p.kv_heads, m_blocks, p.causal, resident_blocks)};
  // The FFMA softmax needs a positive scale (see online_softmax).
  auto* kernel = args.scale_log2 > 0.0f ? &attention_fwd_mma_kernel<Cfg, Element, true>
                                        : &attention_fwd_mma_kernel<Cfg, Element, false>;
  constexpr int kSmem = Cfg::kSmemBytes;
  // Over the 48 KB default: opt in. Per device and cheap; set on every call
  // so that a change of current device is covered.
  MLOPT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  // Ask for the largest shared-memory carveout so that kMinBlocksPerSm
  // blocks fit on one SM (the loads bypass L1, which gets the rest).
  MLOPT_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared));
  const dim3 grid(static_cast<unsigned>(heads_total), static_cast<unsigned>(m_blocks));
  kernel<<<grid, Cfg::kThreads, kSmem, stream>>>(args);
  MLOPT_CUDA_CHECK_LAUNCH();
}

}  // namespace mlopt::kernels::attention_fwd_mma
