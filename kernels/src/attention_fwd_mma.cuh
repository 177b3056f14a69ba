#pragma once
// Attention forward, FlashAttention-2 style on mma.sync (sm_80+; built for
// and tuned on the H100). The default prefill kernel; attention_fwd.cuh
// (wmma) stays as a cross-check. Pieces, composed by a thin kernel:
//
//   MmaTileConfig<head_dim>  tile sizes, warps, the shared-memory layout
//   ptx::                    cp.async / ldmatrix / mma.sync / ex2 wrappers
//   load_tile                global -> padded shared rows (cp.async, zero-fill)
//   LaneAddress              each lane's ldmatrix row addresses
//   compute_scores           S = Q K^T into registers (fp32)
//   online_softmax<kMask>    mask (diagonal/tail tiles only), running max and
//                            sum in base 2, P = 2^(S - m) in place, O rescale
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

#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "mlopt/kernels/attention.h"
#include "mlopt/kernels/cuda_check.h"

namespace mlopt::kernels::attention_fwd_mma {

// Tile sizes: 128 queries x 64 keys per step, 4 warps x 32 rows, for both
// head dims. Per thread the S accumulators take 64 fp32 registers and O
// head_dim registers.
//   hdim 128: 255 registers (S 64 + O 128), 102 KB shared (Q + two K and two
//             V stages, padded rows): 2 blocks per H100 SM.
//   hdim  64: capped at 168 registers by __launch_bounds__ (no spills), 54 KB
//             shared: 3 blocks per SM, so one block's loads and softmax
//             overlap the others' tensor-core work. 128-key tiles (the FA2
//             choice on A100) put S + O at 192 registers and spilled.
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

// What the kernel gets beside the user's params.
struct MmaArgs {
  AttentionParams p;
  float scale_log2;  // softmax_scale * log2(e): the softmax runs in base 2
  bool vec_qkv;      // q/k/v 16-byte aligned, batch/head/row strides multiples of 8: 16-byte cp.async
  bool vec_out;      // out likewise: 16-byte stores
};

namespace ptx {

__device__ __forceinline__ uint32_t smem_u32(const void* pointer) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(pointer));
}

// 16-byte global -> shared copy that bypasses L1 (.cg). src_bytes = 0 reads
// nothing and zero-fills the destination (rows past the end).
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, bool fill) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(fill ? 16 : 0)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

// d += A(16x16) * B(16x8), fp32 accumulators.
template <typename Element>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma_16816<__half>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma_16816<__nv_bfloat16>(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// 2^x on the SFU; 2^-inf = +0.
__device__ __forceinline__ float exp2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

}  // namespace ptx

// Two floats -> one b32 of two 16-bit elements, `lo` in the low half (the
// lower column of an mma operand pair), rounded to nearest even.
template <typename Element>
__device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <>
__device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  uint32_t bits;
  memcpy(&bits, &h, sizeof bits);
  return bits;
}
template <>
__device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  uint32_t bits;
  memcpy(&bits, &h, sizeof bits);
  return bits;
}

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
template <class Cfg, int kRows>
__device__ __forceinline__ void load_tile(unsigned char* smem_tile, const uint16_t* gmem, int64_t row_stride,
                                          int valid_rows, bool vectorized) {
  if (vectorized) {
    constexpr int kRowsPerPass = Cfg::kThreads / Cfg::kRowChunks;
    const int chunk = threadIdx.x % Cfg::kRowChunks;
    const int row0 = threadIdx.x / Cfg::kRowChunks;
    const uint32_t dst = ptx::smem_u32(smem_tile);
#pragma unroll
    for (int pass = 0; pass < kRows / kRowsPerPass; ++pass) {
      const int row = row0 + pass * kRowsPerPass;
      const bool valid = row < valid_rows;
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
    q = ptx::smem_u32(smem + Cfg::kQOffset) + smem_offset<Cfg>(warp * Cfg::kRowsPerWarp + lane % 16, lane / 16);
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

// One key tile of the online softmax, in place: S (raw dot products) becomes
// P = 2^(scale_log2 * S - m_new), the state moves to the new max, and O is
// rescaled by 2^(m_old - m_new). With kMask, key j of a row is kept only if
// j < limit of that row (the kv_len tail and the causal diagonal); tiles
// without kMask are fully visible and carry no per-element checks.
template <class Cfg, bool kMask>
__device__ __forceinline__ void online_softmax(float (&s)[Cfg::kMAtoms][Cfg::kNAtoms][4],
                                               float (&o)[Cfg::kMAtoms][Cfg::kDAtoms][4], SoftmaxState<Cfg>& st,
                                               float scale_log2, int lane_key0, const RowLimit& limit) {
  float alpha[Cfg::kMAtoms][2];
  bool rescale = false;
#pragma unroll
  for (int mi = 0; mi < Cfg::kMAtoms; ++mi) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float m_new = st.m[mi][h];
#pragma unroll
      for (int nj = 0; nj < Cfg::kNAtoms; ++nj) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          float x = s[mi][nj][2 * h + e] * scale_log2;
          if (kMask && lane_key0 + nj * 8 + e >= limit(mi, h)) x = -INFINITY;
          s[mi][nj][2 * h + e] = x;
          m_new = fmaxf(m_new, x);
        }
      }
      // The 4 lanes of a quad hold the same row.
      m_new = fmaxf(m_new, __shfl_xor_sync(0xffffffffu, m_new, 1));
      m_new = fmaxf(m_new, __shfl_xor_sync(0xffffffffu, m_new, 2));
      // No visible key yet (m_new = -inf): subtract 0 instead, so that
      // 2^(-inf - 0) = 0 rather than NaN.
      const float m_use = m_new == -INFINITY ? 0.0f : m_new;
      alpha[mi][h] = ptx::exp2_approx(st.m[mi][h] - m_use);  // 0 while m_old = -inf
      rescale |= alpha[mi][h] != 1.0f;
      st.m[mi][h] = m_new;
      float sum = 0.0f;
#pragma unroll
      for (int nj = 0; nj < Cfg::kNAtoms; ++nj) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const float pj = ptx::exp2_approx(s[mi][nj][2 * h + e] - m_use);
          s[mi][nj][2 * h + e] = pj;
          sum += pj;
        }
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

// O += P V: P (fp32 in the S registers) rounded to the input dtype and used
// as the A operand directly; V fragments by ldmatrix.trans from `v_tile`.
template <class Cfg, typename Element>
__device__ __forceinline__ void accumulate_pv(const float (&s)[Cfg::kMAtoms][Cfg::kNAtoms][4],
                                              float (&o)[Cfg::kMAtoms][Cfg::kDAtoms][4], const LaneAddress<Cfg>& la,
                                              uint32_t v_tile) {
  const uint32_t v_lane = v_tile + la.v;
#pragma unroll
  for (int kk = 0; kk < Cfg::kBlockN / 16; ++kk) {
    uint32_t a[Cfg::kMAtoms][4];
#pragma unroll
    for (int mi = 0; mi < Cfg::kMAtoms; ++mi) {
      a[mi][0] = pack2<Element>(s[mi][2 * kk][0], s[mi][2 * kk][1]);
      a[mi][1] = pack2<Element>(s[mi][2 * kk][2], s[mi][2 * kk][3]);
      a[mi][2] = pack2<Element>(s[mi][2 * kk + 1][0], s[mi][2 * kk + 1][1]);
      a[mi][3] = pack2<Element>(s[mi][2 * kk + 1][2], s[mi][2 * kk + 1][3]);
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

// Key tiles 0 .. n_blocks-1 (n_blocks >= 1), walked from the last one down:
// the tiles that need masking (the kv_len tail, the causal diagonal) are
// the highest ones, so they come first and the rest run the unmasked path.
// Pipeline: Q and the first K/V tile load up front; at the top of each step
// the block waits for the current tile, syncs (which also retires every
// warp's reads of the other stage), then starts the next tile's K and V
// into the other stage, so those loads overlap this step's whole Q K^T,
// softmax and P V.
template <class Cfg, typename Element>
__device__ __forceinline__ void mainloop(const MmaArgs& args, unsigned char* smem, int batch, int head, int kv_head,
                                         int m_start, int n_blocks, float (&o)[Cfg::kMAtoms][Cfg::kDAtoms][4],
                                         SoftmaxState<Cfg>& st) {
  const AttentionParams& p = args.p;
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const int causal_offset = p.kv_len - p.q_len;  // bottom-right alignment

  const auto* q_g = static_cast<const uint16_t*>(p.q) + batch * p.q_strides.batch + head * p.q_strides.head +
                    m_start * p.q_strides.row;
  // K/V tile n into `stage`. The offsets are recomputed from the kernel
  // parameters on every call rather than kept in registers across the loop
  // (the accumulators need them all).
  auto load_kv = [&](int n, int stage) {
    const int valid = min(Cfg::kBlockN, p.kv_len - n * Cfg::kBlockN);
    const int64_t key0 = int64_t{n} * Cfg::kBlockN;
    load_tile<Cfg, Cfg::kBlockN>(
        smem + Cfg::kKOffset + stage * Cfg::kKVTileBytes,
        static_cast<const uint16_t*>(p.k) + batch * p.k_strides.batch + kv_head * p.k_strides.head +
            key0 * p.k_strides.row,
        p.k_strides.row, valid, args.vec_qkv);
    load_tile<Cfg, Cfg::kBlockN>(
        smem + Cfg::kVOffset + stage * Cfg::kKVTileBytes,
        static_cast<const uint16_t*>(p.v) + batch * p.v_strides.batch + kv_head * p.v_strides.head +
            key0 * p.v_strides.row,
        p.v_strides.row, valid, args.vec_qkv);
  };

  load_tile<Cfg, Cfg::kBlockM>(smem + Cfg::kQOffset, q_g, p.q_strides.row, min(Cfg::kBlockM, p.q_len - m_start),
                               args.vec_qkv);
  load_kv(n_blocks - 1, 0);
  ptx::cp_async_commit();

  const LaneAddress<Cfg> la(smem);
  const uint32_t k_smem = ptx::smem_u32(smem + Cfg::kKOffset);
  const uint32_t v_smem = ptx::smem_u32(smem + Cfg::kVOffset);

  for (int step = 0; step < n_blocks; ++step) {
    const int n = n_blocks - 1 - step;
    const int stage = step & 1;
    ptx::cp_async_wait_all();
    __syncthreads();
    if (n > 0) {
      load_kv(n - 1, stage ^ 1);
      ptx::cp_async_commit();
    }

    float s[Cfg::kMAtoms][Cfg::kNAtoms][4];
    compute_scores<Cfg, Element>(s, la, k_smem + stage * Cfg::kKVTileBytes);

    const int key_end = (n + 1) * Cfg::kBlockN;  // one past this tile's last key
    const bool needs_mask = key_end > p.kv_len || (p.causal && key_end - 1 > m_start + causal_offset);
    const int lane_key0 = n * Cfg::kBlockN + 2 * (lane % 4);  // this lane's first key column in the tile
    if (needs_mask) {
      const int query = m_start + warp * Cfg::kRowsPerWarp + lane / 4;  // the lane's row of atom 0, half 0
      const RowLimit limit{p.causal ? query + causal_offset + 1 : p.kv_len, p.causal ? 1 : 0, p.kv_len};
      online_softmax<Cfg, true>(s, o, st, args.scale_log2, lane_key0, limit);
    } else {
      online_softmax<Cfg, false>(s, o, st, args.scale_log2, lane_key0, RowLimit{});
    }

    accumulate_pv<Cfg, Element>(s, o, la, v_smem + stage * Cfg::kKVTileBytes);
  }
}

// out = O / l in the input dtype, lse = (m + log2 l) ln 2; a row that saw no
// key (l = 0) gets zeros and lse = -inf. Rows past q_len are not written.
// Each warp stages its 32 rows in its own rows of the Q tile (no other warp
// reads them, so a __syncwarp suffices), then writes whole 16-byte chunks:
// lanes 0..15 / 16..31 cover one 256-byte row (hdim 128) each.
template <class Cfg, typename Element>
__device__ __forceinline__ void epilogue(const MmaArgs& args, unsigned char* smem, int batch, int head, int m_start,
                                         const float (&o)[Cfg::kMAtoms][Cfg::kDAtoms][4],
                                         const SoftmaxState<Cfg>& st) {
  const AttentionParams& p = args.p;
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const int warp_row0 = m_start + warp * Cfg::kRowsPerWarp;  // query index of the warp's first row

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
            pack2<Element>(o[mi][dj][2 * h] * inv_l[mi][h], o[mi][dj][2 * h + 1] * inv_l[mi][h]);
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

// One block per (batch x q head, query tile). blockIdx.x runs over batch and
// heads (head fastest, so the q heads of one GQA group run side by side and
// share K/V in L2); blockIdx.y over query tiles in reverse, so under the
// causal mask the heaviest (last) tiles of every head start first and the
// light ones fill the tail.
template <class Cfg, typename Element>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::kMinBlocksPerSm) attention_fwd_mma_kernel(const MmaArgs args) {
  extern __shared__ __align__(128) unsigned char smem[];
  const AttentionParams& p = args.p;
  const int head = static_cast<int>(blockIdx.x % static_cast<unsigned>(p.q_heads));
  const int batch = static_cast<int>(blockIdx.x / static_cast<unsigned>(p.q_heads));
  const int m_start = static_cast<int>(gridDim.y - 1 - blockIdx.y) * Cfg::kBlockM;
  const int kv_head = head / (p.q_heads / p.kv_heads);

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

  if (n_blocks > 0) mainloop<Cfg, Element>(args, smem, batch, head, kv_head, m_start, n_blocks, o, st);
  epilogue<Cfg, Element>(args, smem, batch, head, m_start, o, st);
}

inline bool aligned16(const void* pointer) { return reinterpret_cast<std::uintptr_t>(pointer) % 16 == 0; }
inline bool strides_multiple_of_8(const TensorStrides& s) {
  return s.batch % 8 == 0 && s.head % 8 == 0 && s.row % 8 == 0;
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

  const MmaArgs args{p, p.softmax_scale * 1.4426950408889634f,
                     aligned16(p.q) && aligned16(p.k) && aligned16(p.v) && strides_multiple_of_8(p.q_strides) &&
                         strides_multiple_of_8(p.k_strides) && strides_multiple_of_8(p.v_strides),
                     aligned16(p.out) && strides_multiple_of_8(p.out_strides)};
  auto* kernel = &attention_fwd_mma_kernel<Cfg, Element>;
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
