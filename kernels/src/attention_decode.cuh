#pragma once
// Flash-decoding: attention for a few query rows over a long KV cache, with
// the KV sequence split across blocks and the splits merged by log-sum-exp.
// Pieces, composed by two thin kernels:
//
//   DecodeConfig<head_dim>   block shape, pipeline depth, shared-memory layout
//   ptx:: (mma_sm80.cuh)     cp.async, ldmatrix, mma.sync, packing
//   load_kv_tile, load_q     global -> swizzled shared rows (cp.async 16 B, or
//                            scalar loads when not 16-byte aligned)
//   decode_split_kv_kernel   one block per (split x row tile, kv head, batch):
//                            stream its K/V chunk through a kStages-deep
//                            cp.async ring; each warp keeps its own online
//                            softmax over its 16 keys of every tile; warps
//                            merge through shared memory at the end; write
//                            out directly (one split) or fp32 partials
//   decode_combine_kernel    per row, merge the splits' partials with weights
//                            exp(lse_s - max lse) -> out (dtype), lse
//
// Work split. The rows of a block are the query rows of the q heads that
// share its kv head (GQA/MQA), flat row index within the group
// (h % group) * q_len + i, up to kRowsPerBlock = 16 of them: one mma M tile,
// so every K/V byte a block reads serves all its rows (a group of more than
// 16 rows takes ceil(rows / 16) row tiles, neighbouring blocks, which re-read
// the chunk mostly from L2). The 4 warps of a block split each 64-key tile,
// 16 keys each; a warp's softmax state and O accumulator never leave it until
// the end, so the mainloop needs one __syncthreads per tile (the ring).
//
// Why mma.sync rather than CUDA-core FMAs: the kernel is memory bound at one
// row (MHA decode), but a GQA group of 8-16 rows would need 8-16x the fp32
// FMAs plus cross-lane reductions per key on CUDA cores, which no longer
// hides under the memory stream; on tensor cores 1 and 16 rows cost the
// same. The padding rows are free because the bound is memory.
//
// Why cp.async into shared memory: a tensor-core B operand wants K as-is and
// V transposed (ldmatrix / ldmatrix.trans from shared memory), and cp.async
// keeps (kStages - 1) whole tiles per block in flight (64 KB at head_dim 128)
// without holding registers: 2 resident blocks per SM keep ~128 KB in
// flight per SM, far above what HBM latency x bandwidth requires.
//
// Fragment layouts (PTX ISA, mma.m16n8k16 .f16/.bf16 -> .f32, ldmatrix);
// lane = 0..31, g = lane / 4, t = lane % 4:
//   A (16 x 16 row-major): a[0] = A[g][2t..2t+1], a[1] = A[g+8][2t..],
//                          a[2] = A[g][2t+8..],  a[3] = A[g+8][2t+8..]
//   B (16 x 8, k x n):     b[0] = B[2t..2t+1][g], b[1] = B[2t+8..2t+9][g]
//   C (16 x 8 fp32):       c[0..1] = C[g][2t..2t+1], c[2..3] = C[g+8][2t..2t+1]
//   ldmatrix.x4: lanes 8i..8i+7 address the 8 rows of matrix i; register i
//   of lane l gets M_i[l/4][2(l%4)..+1], with .trans M_i[2(l%4)..+1][l/4].
// So with Q, K, V stored [row][head_dim] in shared memory: Q rows give A
// directly; K rows ([key][dim]) are B = K^T in "col" order, read by plain
// ldmatrix; V rows ([key][dim]) are B = V row-major, read by ldmatrix.trans;
// and the S accumulators of two 8-key n tiles are exactly the A fragment of
// P for the 16-key P V step (no shuffles).
//
// Shared rows are swizzled at 16-byte granularity: chunk c of row r lives at
// chunk c ^ (r % 8), so the 8 row addresses of one ldmatrix (8 consecutive
// rows, one logical chunk) hit 8 different bank groups, and so do the 16-byte
// cp.async writes of 8 consecutive lanes (one row, 8 consecutive chunks).
//
// One (head_dim, dtype) instantiation per .cu file
// (attention_decode_hdim{64,128}_{fp16,bf16}.cu); attention_decode_launch.cu
// plans the splits (attention_split_plan.h) and dispatches.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "attention_split_plan.h"
#include "mlopt/kernels/attention.h"
#include "mlopt/kernels/cuda_check.h"
#include "mma_sm80.cuh"

namespace mlopt::kernels::attention_decode {

template <int kHeadDim_>
struct DecodeConfig {
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kWarps = 4;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kRows = kRowsPerBlock;  // 16: one mma M tile
  // Keys per warp per tile: two 8-key n tiles of S = one 16-key k step of P V.
  static constexpr int kWarpKeys = 16;
  static constexpr int kBlockN = kWarps * kWarpKeys;  // 64 keys per tile
  // Ring depth: (kStages - 1) tiles in flight while one is computed. 3 x 32 KB
  // at head_dim 128 (2 blocks per SM), 4 x 16 KB at 64 (3 blocks per SM):
  // ~130-150 KB of loads in flight per SM either way.
  static constexpr int kStages = kHeadDim == 64 ? 4 : 3;
  static constexpr int kChunks = kHeadDim / 8;   // 16-byte chunks per row
  static constexpr int kKSteps = kHeadDim / 16;  // k steps of S = Q K^T
  static constexpr int kDTiles = kHeadDim / 8;   // n tiles of O
  static_assert(kRows == 16 && kWarpKeys == 16, "fragment bookkeeping assumes one 16 x 16 P tile per warp");
  static_assert(kDTiles % 2 == 0, "V is read two 8-column tiles per ldmatrix.x4");
  static_assert((kBlockN * kChunks) % kThreads == 0, "whole 16-byte chunks per thread");

  // Shared memory (bytes): Q tile, then the K/V ring (stage s: K at
  // kRingOffset + s * kStageBytes, V kTileBytes after it).
  static constexpr int kTileBytes = kBlockN * kHeadDim * 2;
  static constexpr int kStageBytes = 2 * kTileBytes;
  static constexpr int kQOffset = 0;
  static constexpr int kRingOffset = kRows * kHeadDim * 2;
  static constexpr int kSmemBytes = kRingOffset + kStages * kStageBytes;

  // The cross-warp merge reuses the ring once the mainloop is done: each
  // warp's unnormalised O (fp32, rows padded by 8 floats so the float2
  // stores of lanes g = 0..3 cover all 32 banks), then its m and l per row.
  static constexpr int kLdO = kHeadDim + 8;
  static constexpr int kOScratchOffset = kRingOffset;
  static constexpr int kMScratchOffset = kOScratchOffset + kWarps * kRows * kLdO * 4;
  static constexpr int kLScratchOffset = kMScratchOffset + kWarps * kRows * 4;
  static_assert(kLScratchOffset + kWarps * kRows * 4 <= kSmemBytes, "merge scratch fits in the ring");
  static_assert(kRingOffset % 128 == 0 && kStageBytes % 128 == 0, "shared regions stay 128-byte aligned");
};

// The combine kernel: one warp per output row.
inline constexpr int kCombineWarps = kCombineRowsPerBlock;

namespace ptx = sm80;  // cp.async, ldmatrix, mma.sync, packing: mma_sm80.cuh

template <typename Element>
struct ElementOps;
template <>
struct ElementOps<__half> {
  static __device__ __forceinline__ __half from_float(float x) { return __float2half_rn(x); }
};
template <>
struct ElementOps<__nv_bfloat16> {
  static __device__ __forceinline__ __nv_bfloat16 from_float(float x) { return __float2bfloat16_rn(x); }
};

struct DecodeArgs {
  AttentionParams p;
  float scale_log2;    // softmax_scale * log2(e): the softmax runs in base 2
  bool vectorized;     // q/k/v 16-byte aligned, their batch/head/row strides multiples of 8
  int group;           // q heads per kv head
  int rows_per_group;  // group * q_len
  int row_tiles;       // ceil(rows_per_group / kRowsPerBlock)
  int keys_per_split;
  int64_t rows_total;  // batch * q_heads * q_len
  // More than one split: the workspace (layout in attention_split_plan.h);
  // null: one split, the kernel writes out and lse itself.
  float* partial_o;
  float* partial_lse;
};

struct CombineArgs {
  AttentionParams p;
  const float* partial_o;
  const float* partial_lse;
  int num_splits;
  int64_t rows_total;
};

// Element offset of 16-byte chunk `chunk` of row `row` in a swizzled tile.
template <class Cfg>
__device__ __forceinline__ int swizzled(int row, int chunk) {
  return (row * Cfg::kChunks + (chunk ^ (row & 7))) * 8;
}

// Keys [key_start, key_start + kBlockN) of one kv head -> one ring stage.
// Keys >= key_end are zero-filled: masked scores are replaced by -inf, but
// P (= 0 there) times V must not meet stale NaN bits in shared memory.
// The vectorized path issues cp.async (the caller commits the group); the
// scalar path (rows not 16-byte aligned) loads synchronously.
template <class Cfg>
__device__ __forceinline__ void load_kv_tile(uint16_t* k_s, uint16_t* v_s, const uint16_t* k_g, const uint16_t* v_g,
                                             int64_t k_row_stride, int64_t v_row_stride, int key_start, int key_end,
                                             bool vectorized) {
  if (vectorized) {
    constexpr int kPerThread = Cfg::kBlockN * Cfg::kChunks / Cfg::kThreads;
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int idx = threadIdx.x + i * Cfg::kThreads;
      const int r = idx / Cfg::kChunks;
      const int c = idx % Cfg::kChunks;
      const bool valid = key_start + r < key_end;
      const int64_t key = valid ? key_start + r : key_start;  // any valid address when nothing is read
      ptx::cp_async_16(ptx::smem_address(k_s + swizzled<Cfg>(r, c)), k_g + key * k_row_stride + c * 8, valid);
      ptx::cp_async_16(ptx::smem_address(v_s + swizzled<Cfg>(r, c)), v_g + key * v_row_stride + c * 8, valid);
    }
  } else {
    for (int idx = threadIdx.x; idx < Cfg::kBlockN * Cfg::kHeadDim; idx += Cfg::kThreads) {
      const int r = idx / Cfg::kHeadDim;
      const int col = idx % Cfg::kHeadDim;
      const bool valid = key_start + r < key_end;
      const int64_t key = key_start + r;
      const int at = swizzled<Cfg>(r, col / 8) + col % 8;
      k_s[at] = valid ? k_g[key * k_row_stride + col] : uint16_t{0};
      v_s[at] = valid ? v_g[key * v_row_stride + col] : uint16_t{0};
    }
  }
}

// The block's query rows -> the Q tile; rows past the group's end are zeros.
template <class Cfg>
__device__ __forceinline__ void load_q(uint16_t* q_s, const DecodeArgs& args, int batch, int kv_head, int row0,
                                       int rows_here) {
  const AttentionParams& p = args.p;
  const auto* q_b = static_cast<const uint16_t*>(p.q) + batch * p.q_strides.batch;
  auto row_pointer = [&](int r) {
    const int flat = row0 + r;  // (head within the group) * q_len + query
    const int head = kv_head * args.group + flat / p.q_len;
    return q_b + head * p.q_strides.head + (flat % p.q_len) * p.q_strides.row;
  };
  if (args.vectorized) {
    for (int idx = threadIdx.x; idx < Cfg::kRows * Cfg::kChunks; idx += Cfg::kThreads) {
      const int r = idx / Cfg::kChunks;
      const int c = idx % Cfg::kChunks;
      uint4 value = make_uint4(0u, 0u, 0u, 0u);
      if (r < rows_here) value = *reinterpret_cast<const uint4*>(row_pointer(r) + c * 8);
      *reinterpret_cast<uint4*>(q_s + swizzled<Cfg>(r, c)) = value;
    }
  } else {
    for (int idx = threadIdx.x; idx < Cfg::kRows * Cfg::kHeadDim; idx += Cfg::kThreads) {
      const int r = idx / Cfg::kHeadDim;
      const int col = idx % Cfg::kHeadDim;
      q_s[swizzled<Cfg>(r, col / 8) + col % 8] = r < rows_here ? row_pointer(r)[col] : uint16_t{0};
    }
  }
}

template <class Cfg, typename Element>
__global__ void __launch_bounds__(Cfg::kThreads) decode_split_kv_kernel(const __grid_constant__ DecodeArgs args) {
  extern __shared__ __align__(128) unsigned char smem[];
  using Ops = ElementOps<Element>;
  const AttentionParams& p = args.p;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int g = lane / 4;
  const int t = lane % 4;

  // Coordinates: the row tiles of one split are neighbouring blocks, so a
  // group with several row tiles re-reads its chunk from L2.
  const int row_tile = blockIdx.x % args.row_tiles;
  const int split = blockIdx.x / args.row_tiles;
  const int kv_head = blockIdx.y;
  const int batch = blockIdx.z;
  const int row0 = row_tile * Cfg::kRows;
  const int rows_here = min(Cfg::kRows, args.rows_per_group - row0);

  // This split's keys, cut short under the causal mask at the last key the
  // block's latest query sees (bottom-right: query i sees j <= i + kv_len - q_len).
  const int split_start = static_cast<int>(min(int64_t{split} * args.keys_per_split, int64_t{p.kv_len}));
  const int split_end = static_cast<int>(min(int64_t{split_start} + args.keys_per_split, int64_t{p.kv_len}));
  const int causal_offset = p.kv_len - p.q_len;
  int n_end = split_end;
  if (p.causal) {
    int max_query = p.q_len - 1;
    if (rows_here < p.q_len) {  // the tile may hold only some of the queries
      max_query = 0;
      for (int r = 0; r < rows_here; ++r) max_query = max(max_query, (row0 + r) % p.q_len);
    }
    n_end = max(split_start, min(n_end, max_query + causal_offset + 1));
  }
  const int n_tiles = (n_end - split_start + Cfg::kBlockN - 1) / Cfg::kBlockN;

  const auto* k_g = static_cast<const uint16_t*>(p.k) + batch * p.k_strides.batch + kv_head * p.k_strides.head;
  const auto* v_g = static_cast<const uint16_t*>(p.v) + batch * p.v_strides.batch + kv_head * p.v_strides.head;
  auto* q_s = reinterpret_cast<uint16_t*>(smem + Cfg::kQOffset);
  auto stage_k = [&](int stage) {
    return reinterpret_cast<uint16_t*>(smem + Cfg::kRingOffset + stage * Cfg::kStageBytes);
  };
  auto stage_v = [&](int stage) {
    return reinterpret_cast<uint16_t*>(smem + Cfg::kRingOffset + stage * Cfg::kStageBytes + Cfg::kTileBytes);
  };

  // Prologue: the first kStages - 1 tiles start streaming, then Q loads
  // under them. One commit group per tile, empty ones included, so that
  // "tile n has landed" is always "at most kStages - 2 groups pending".
#pragma unroll
  for (int st = 0; st < Cfg::kStages - 1; ++st) {
    if (st < n_tiles) {
      load_kv_tile<Cfg>(stage_k(st), stage_v(st), k_g, v_g, p.k_strides.row, p.v_strides.row,
                        split_start + st * Cfg::kBlockN, n_end, args.vectorized);
    }
    ptx::cp_async_commit();
  }
  load_q<Cfg>(q_s, args, batch, kv_head, row0, rows_here);

  // This lane's two rows (g and g + 8): keys j < limit are visible. Padding
  // rows see nothing (their limit is the split's first key).
  int limit[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int r = g + 8 * h;
    limit[h] = split_start;
    if (r < rows_here) {
      const int query = (row0 + r) % p.q_len;
      limit[h] = p.causal ? min(n_end, query + causal_offset + 1) : n_end;
    }
  }
  __syncthreads();  // Q tile complete

  uint32_t q_frag[Cfg::kKSteps][4];
#pragma unroll
  for (int kk = 0; kk < Cfg::kKSteps; ++kk) {
    const int r = lane % 16;  // matrices: rows 0-7 / 8-15 (lane bit 3), columns +0 / +8 (lane bit 4)
    ptx::ldmatrix_x4(q_frag[kk], ptx::smem_address(q_s + swizzled<Cfg>(r, 2 * kk + lane / 16)));
  }

  // Per warp: unnormalised O for the 16 rows (this lane's part of the C
  // fragments), running max m (base-2 units, -inf until a key is seen) and
  // this lane's share of the running sum l.
  float o[Cfg::kDTiles][4];
#pragma unroll
  for (int dt = 0; dt < Cfg::kDTiles; ++dt) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY};
  float l[2] = {0.0f, 0.0f};

  for (int tile = 0; tile < n_tiles; ++tile) {
    ptx::cp_async_wait<Cfg::kStages - 2>();
    __syncthreads();  // tile `tile` visible to all; everyone is done with the stage it replaces
    const int next = tile + Cfg::kStages - 1;
    if (next < n_tiles) {
      const int st = next % Cfg::kStages;
      load_kv_tile<Cfg>(stage_k(st), stage_v(st), k_g, v_g, p.k_strides.row, p.v_strides.row,
                        split_start + next * Cfg::kBlockN, n_end, args.vectorized);
    }
    ptx::cp_async_commit();

    const int key0 = split_start + tile * Cfg::kBlockN + warp * Cfg::kWarpKeys;  // this warp's first key
    if (key0 >= n_end) continue;  // warp-uniform: all its keys are past the end
    const int stage = tile % Cfg::kStages;
    const uint16_t* k_s = stage_k(stage);
    const uint16_t* v_s = stage_v(stage);

    // S (16 rows x 16 keys) = Q K^T: n tile 0 = keys 0-7, n tile 1 = keys 8-15.
    float s[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
#pragma unroll
    for (int kk = 0; kk < Cfg::kKSteps; ++kk) {
      // Matrices 0..3: (keys 0-7, cols +0), (keys 0-7, +8), (keys 8-15, +0), (keys 8-15, +8).
      const int r = warp * Cfg::kWarpKeys + lane % 8 + 8 * (lane / 16);
      uint32_t b[4];
      ptx::ldmatrix_x4(b, ptx::smem_address(k_s + swizzled<Cfg>(r, 2 * kk + (lane / 8) % 2)));
      ptx::mma_16816<Element>(s[0], q_frag[kk], b[0], b[1]);
      ptx::mma_16816<Element>(s[1], q_frag[kk], b[2], b[3]);
    }

    // Online softmax per row; the 16 keys of a row live in the 4 lanes of
    // one quad (t = 0..3), 4 each. s becomes P in place.
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float tile_max = -INFINITY;
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int key = key0 + nt * 8 + 2 * t + e;
          const float x = key < limit[h] ? s[nt][2 * h + e] * args.scale_log2 : -INFINITY;
          s[nt][2 * h + e] = x;
          tile_max = fmaxf(tile_max, x);
        }
      }
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
      const float m_new = fmaxf(m[h], tile_max);
      float alpha = 1.0f, sum = 0.0f;
      if (m_new != -INFINITY) {        // else no key seen yet: nothing to add or rescale
        alpha = exp2f(m[h] - m_new);  // 0 when m[h] is -inf
#pragma unroll
        for (int nt = 0; nt < 2; ++nt) {
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            const float pv = exp2f(s[nt][2 * h + e] - m_new);  // masked: 2^-inf = 0
            s[nt][2 * h + e] = pv;
            sum += pv;
          }
        }
      } else {
        s[0][2 * h] = s[0][2 * h + 1] = s[1][2 * h] = s[1][2 * h + 1] = 0.0f;
      }
      m[h] = m_new;
      l[h] = l[h] * alpha + sum;
#pragma unroll
      for (int dt = 0; dt < Cfg::kDTiles; ++dt) {
        o[dt][2 * h] *= alpha;
        o[dt][2 * h + 1] *= alpha;
      }
    }

    // O += P V. P's A fragment is the two S n tiles, rounded to the input
    // dtype (as every flash kernel does; the sum l stays fp32).
    const uint32_t a[4] = {ptx::pack2<Element>(s[0][0], s[0][1]), ptx::pack2<Element>(s[0][2], s[0][3]), ptx::pack2<Element>(s[1][0], s[1][1]),
                           ptx::pack2<Element>(s[1][2], s[1][3])};
#pragma unroll
    for (int dp = 0; dp < Cfg::kDTiles / 2; ++dp) {
      // Matrices 0..3 (transposed): (keys 0-7, cols 16dp), (keys 8-15, 16dp),
      // (keys 0-7, 16dp + 8), (keys 8-15, 16dp + 8).
      const int r = warp * Cfg::kWarpKeys + lane % 8 + 8 * ((lane / 8) % 2);
      uint32_t b[4];
      ptx::ldmatrix_x4_trans(b, ptx::smem_address(v_s + swizzled<Cfg>(r, 2 * dp + lane / 16)));
      ptx::mma_16816<Element>(o[2 * dp], a, b[0], b[1]);
      ptx::mma_16816<Element>(o[2 * dp + 1], a, b[2], b[3]);
    }
  }
  ptx::cp_async_wait<0>();
  __syncthreads();  // the ring is free: reuse it for the cross-warp merge

  // Each row's sum over its quad, then every warp's partials to shared memory.
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    l[h] += __shfl_xor_sync(0xffffffffu, l[h], 1);
    l[h] += __shfl_xor_sync(0xffffffffu, l[h], 2);
  }
  auto* o_s = reinterpret_cast<float*>(smem + Cfg::kOScratchOffset);
  auto* m_s = reinterpret_cast<float*>(smem + Cfg::kMScratchOffset);
  auto* l_s = reinterpret_cast<float*>(smem + Cfg::kLScratchOffset);
#pragma unroll
  for (int dt = 0; dt < Cfg::kDTiles; ++dt) {
    float* row_g = o_s + (warp * Cfg::kRows + g) * Cfg::kLdO + dt * 8 + 2 * t;
    *reinterpret_cast<float2*>(row_g) = make_float2(o[dt][0], o[dt][1]);
    *reinterpret_cast<float2*>(row_g + 8 * Cfg::kLdO) = make_float2(o[dt][2], o[dt][3]);
  }
  if (t == 0) {
    m_s[warp * Cfg::kRows + g] = m[0];
    m_s[warp * Cfg::kRows + g + 8] = m[1];
    l_s[warp * Cfg::kRows + g] = l[0];
    l_s[warp * Cfg::kRows + g + 8] = l[1];
  }
  __syncthreads();

  // Merge the warps: m = max_w m_w, O = sum_w O_w 2^(m_w - m), l likewise.
  // A row with l == 0 saw no key here: zeros and lse = -inf.
  constexpr float kLn2 = 0.6931471805599453f;
  for (int idx = threadIdx.x; idx < rows_here * Cfg::kHeadDim; idx += Cfg::kThreads) {
    const int r = idx / Cfg::kHeadDim;
    const int d = idx % Cfg::kHeadDim;
    float m_block = -INFINITY;
#pragma unroll
    for (int w = 0; w < Cfg::kWarps; ++w) m_block = fmaxf(m_block, m_s[w * Cfg::kRows + r]);
    float acc = 0.0f, sum = 0.0f;
    if (m_block != -INFINITY) {
#pragma unroll
      for (int w = 0; w < Cfg::kWarps; ++w) {
        const float f = exp2f(m_s[w * Cfg::kRows + r] - m_block);  // 0 for a warp that saw nothing
        acc += o_s[(w * Cfg::kRows + r) * Cfg::kLdO + d] * f;
        sum += l_s[w * Cfg::kRows + r] * f;
      }
    }
    const float value = sum > 0.0f ? acc / sum : 0.0f;
    const float lse = sum > 0.0f ? (m_block + log2f(sum)) * kLn2 : -INFINITY;
    const int flat = row0 + r;
    const int head = kv_head * args.group + flat / p.q_len;
    const int query = flat % p.q_len;
    const int64_t row = (int64_t{batch} * p.q_heads + head) * p.q_len + query;
    if (args.partial_o != nullptr) {
      args.partial_o[(int64_t{split} * args.rows_total + row) * Cfg::kHeadDim + d] = value;
      if (d == 0) args.partial_lse[int64_t{split} * args.rows_total + row] = lse;
    } else {
      Element* out = static_cast<Element*>(p.out) + batch * p.out_strides.batch + head * p.out_strides.head +
                     query * p.out_strides.row;
      out[d] = Ops::from_float(value);
      if (d == 0 && p.lse != nullptr) p.lse[row] = lse;
    }
  }
}

// One warp per row: weights w_s = exp(lse_s - max_s lse_s) (0 for a split
// that saw nothing), out = sum_s w_s O_s / sum_s w_s, lse = max + ln(sum w).
// A row no split saw (all -inf): zeros and lse = -inf.
template <int kHeadDim, typename Element>
__global__ void __launch_bounds__(kCombineWarps * 32) decode_combine_kernel(const __grid_constant__ CombineArgs args) {
  constexpr int kPerLane = kHeadDim / 32;  // 2 or 4 floats: one 8- or 16-byte load per split
  static_assert(kPerLane == 2 || kPerLane == 4, "head_dim 64 or 128");
  const AttentionParams& p = args.p;
  const int64_t row = int64_t{blockIdx.x} * kCombineWarps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= args.rows_total) return;  // warp-uniform
  const float* lse_row = args.partial_lse + row;  // split s at lse_row[s * rows_total]

  float lse_max = -INFINITY;
  for (int s = lane; s < args.num_splits; s += 32) lse_max = fmaxf(lse_max, lse_row[int64_t{s} * args.rows_total]);
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    lse_max = fmaxf(lse_max, __shfl_xor_sync(0xffffffffu, lse_max, offset));
  }

  float acc[kPerLane] = {};
  float weight_sum = 0.0f;
  if (lse_max != -INFINITY) {  // warp-uniform
    for (int base = 0; base < args.num_splits; base += 32) {
      // Lane j holds split base + j's weight; the loop below broadcasts it,
      // so the O loads of consecutive splits are independent and overlap.
      const int mine = base + lane;
      const float lse_s = mine < args.num_splits ? lse_row[int64_t{mine} * args.rows_total] : -INFINITY;
      const float w = expf(lse_s - lse_max);  // exp(-inf) = 0: empty splits (their O is zeros) add nothing
      weight_sum += w;
      const int count = min(32, args.num_splits - base);
#pragma unroll 4
      for (int j = 0; j < count; ++j) {
        const float wj = __shfl_sync(0xffffffffu, w, j);
        const float* o = args.partial_o + (int64_t{base + j} * args.rows_total + row) * kHeadDim + lane * kPerLane;
        if constexpr (kPerLane == 4) {
          const float4 v = *reinterpret_cast<const float4*>(o);
          acc[0] += wj * v.x;
          acc[1] += wj * v.y;
          acc[2] += wj * v.z;
          acc[3] += wj * v.w;
        } else {
          const float2 v = *reinterpret_cast<const float2*>(o);
          acc[0] += wj * v.x;
          acc[1] += wj * v.y;
        }
      }
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) weight_sum += __shfl_xor_sync(0xffffffffu, weight_sum, offset);
  }

  const int query = static_cast<int>(row % p.q_len);
  const int64_t batch_head = row / p.q_len;
  const int head = static_cast<int>(batch_head % p.q_heads);
  const int64_t batch = batch_head / p.q_heads;
  Element* out = static_cast<Element*>(p.out) + batch * p.out_strides.batch + head * p.out_strides.head +
                 query * p.out_strides.row + lane * kPerLane;
  const float inv = weight_sum > 0.0f ? 1.0f / weight_sum : 0.0f;
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) out[i] = ElementOps<Element>::from_float(acc[i] * inv);
  if (lane == 0 && p.lse != nullptr) p.lse[row] = weight_sum > 0.0f ? lse_max + logf(weight_sum) : -INFINITY;
}

// On the current device: its SMs and how many decode blocks of this
// instantiation one SM holds (occupancy.h: cached per device, the kernel's
// shared-memory limit raised on the first call). Explicitly instantiated
// beside launch_decode.
template <int kHeadDim, typename Element>
DecodeOccupancy decode_occupancy() {
  using Cfg = DecodeConfig<kHeadDim>;
  auto* kernel = &decode_split_kv_kernel<Cfg, Element>;
  return detail::cached_occupancy(reinterpret_cast<const void*>(kernel), Cfg::kThreads, Cfg::kSmemBytes);
}

inline bool aligned16(const void* pointer) { return reinterpret_cast<std::uintptr_t>(pointer) % 16 == 0; }
inline bool strides_multiple_of_8(const TensorStrides& s) {
  return s.batch % 8 == 0 && s.head % 8 == 0 && s.row % 8 == 0;
}

// Host launcher for one (head_dim, dtype). Params validated and within the
// path's limits (attention_decode_launch.cu checks); num_splits > 1 needs
// `workspace` of workspace_bytes(num_splits, rows, head_dim), 16-byte aligned.
template <int kHeadDim, typename Element>
void launch_decode(const AttentionParams& p, cudaStream_t stream, int num_splits, float* workspace) {
  using Cfg = DecodeConfig<kHeadDim>;
  DecodeArgs args{};
  args.p = p;
  args.scale_log2 = p.softmax_scale * 1.4426950408889634f;
  args.vectorized = aligned16(p.q) && aligned16(p.k) && aligned16(p.v) && strides_multiple_of_8(p.q_strides) &&
                    strides_multiple_of_8(p.k_strides) && strides_multiple_of_8(p.v_strides);
  args.group = p.q_heads / p.kv_heads;
  args.rows_per_group = static_cast<int>(rows_per_group(p.q_len, p.q_heads, p.kv_heads));
  args.row_tiles = static_cast<int>(row_tiles(args.rows_per_group));
  args.keys_per_split = keys_per_split(p.kv_len, num_splits);
  args.rows_total = int64_t{p.batch} * p.q_heads * p.q_len;
  if (num_splits > 1) {
    args.partial_o = workspace;
    args.partial_lse = workspace + workspace_lse_offset(num_splits, args.rows_total, kHeadDim) / sizeof(float);
  }

  auto* kernel = &decode_split_kv_kernel<Cfg, Element>;
  // Per device and cheap; set on every call so a change of device is covered.
  MLOPT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg::kSmemBytes));
  const dim3 grid(static_cast<unsigned>(int64_t{num_splits} * args.row_tiles), static_cast<unsigned>(p.kv_heads),
                  static_cast<unsigned>(p.batch));
  kernel<<<grid, Cfg::kThreads, Cfg::kSmemBytes, stream>>>(args);
  MLOPT_CUDA_CHECK_LAUNCH();

  if (num_splits > 1) {
    CombineArgs combine{p, args.partial_o, args.partial_lse, num_splits, args.rows_total};
    const auto blocks = static_cast<unsigned>((args.rows_total + kCombineWarps - 1) / kCombineWarps);
    decode_combine_kernel<kHeadDim, Element><<<blocks, kCombineWarps * 32, 0, stream>>>(combine);
    MLOPT_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace mlopt::kernels::attention_decode
