#pragma once
// Tiled attention forward with online softmax (FlashAttention-2 style),
// correctness-first. Pieces, composed by a thin kernel:
//
//   TileConfig<head_dim>     tile sizes and the shared-memory layout
//   tile coordinates         blockIdx -> (query tile, q head, batch); kv head by GQA
//   load_tile                global -> shared, rows past the end zero-filled
//   mainloop_wmma            for each 64-key tile: S = Q K^T, online softmax, O += P V
//   epilogue                 O / l -> out (input dtype), lse (fp32)
//
// The mainloop runs on tensor cores through nvcuda::wmma (16x16x16, fp32
// accumulators) and works on sm_80 and newer. A Hopper mainloop (wgmma from
// shared memory, TMA loads of K/V into a multi-stage ring, a producer warp
// and consumer warpgroups) goes beside it as mainloop_sm90 with its own
// TileConfig and shared storage; the epilogue contract stays the same (per
// query row: the unnormalised O, the running max m in log2 units, the sum l),
// and launch_attention_fwd picks the mainloop by the device's compute
// capability. Nothing else needs to change.
//
// One instantiation per .cu file (attention_fwd_hdim{64,128}_{fp16,bf16}.cu)
// so builds parallelise; attention_launch.cu dispatches.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "mlopt/kernels/attention.h"
#include "mlopt/kernels/cuda_check.h"

namespace mlopt::kernels::attention_fwd {

template <int kHeadDim_>
struct TileConfig {
  static constexpr int kHeadDim = kHeadDim_;
  // 64 query rows x 64 keys per step: 4 warps, each owning 16 query rows
  // (one wmma row tile), so softmax state never crosses warps and the block
  // needs only two __syncthreads per key tile (around the K/V loads).
  static constexpr int kBlockM = 64;
  static constexpr int kBlockN = 64;
  static constexpr int kWarps = 4;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kRowsPerWarp = kBlockM / kWarps;
  static_assert(kRowsPerWarp == 16, "one wmma row tile per warp");
  static_assert(kHeadDim % 16 == 0 && kBlockN % 32 == 0, "wmma tiles and two keys per lane in the softmax");

  // Leading dimensions in elements, padded so consecutive rows start in
  // different banks; wmma needs multiples of 8 (16-bit) / 4 (fp32) elements
  // and 32-byte aligned tile pointers, which these keep.
  static constexpr int kLdQKV = kHeadDim + 8;  // Q, K, V tiles (16-bit)
  static constexpr int kLdS = kBlockN + 4;     // scores (fp32)
  static constexpr int kLdP = kBlockN + 8;     // probabilities (16-bit)
  static constexpr int kLdO = kHeadDim + 4;    // output accumulator (fp32)

  // Shared memory layout (bytes). The O accumulator lives in shared memory
  // because a wmma accumulator's element-to-lane mapping is opaque, and the
  // online softmax must rescale O row by row.
  static constexpr int kQOffset = 0;
  static constexpr int kKOffset = kQOffset + kBlockM * kLdQKV * 2;
  static constexpr int kVOffset = kKOffset + kBlockN * kLdQKV * 2;
  static constexpr int kSOffset = kVOffset + kBlockN * kLdQKV * 2;
  static constexpr int kPOffset = kSOffset + kBlockM * kLdS * 4;
  static constexpr int kOOffset = kPOffset + kBlockM * kLdP * 2;
  static constexpr int kSmemBytes = kOOffset + kBlockM * kLdO * 4;
  static_assert(kKOffset % 128 == 0 && kVOffset % 128 == 0 && kSOffset % 128 == 0 && kPOffset % 128 == 0 &&
                    kOOffset % 128 == 0,
                "shared regions stay 128-byte aligned");
};

template <typename Element>
struct ElementTraits;
template <>
struct ElementTraits<__half> {
  static __device__ __forceinline__ __half from_float(float x) { return __float2half_rn(x); }
};
template <>
struct ElementTraits<__nv_bfloat16> {
  static __device__ __forceinline__ __nv_bfloat16 from_float(float x) { return __float2bfloat16_rn(x); }
};

struct FwdArgs {
  AttentionParams p;
  float scale_log2;  // softmax_scale * log2(e): the softmax runs in base 2
  bool vectorized;   // q/k/v pointers 16-byte aligned and row/head/batch strides multiples of 8
};

// Copies rows [0, kRows) of a [rows, kHeadDim] tile (row stride in elements)
// to shared memory with leading dimension Cfg::kLdQKV. Rows >= valid_rows
// are zero-filled so that they contribute exact zeros (never stale NaNs).
template <class Cfg, int kRows>
__device__ __forceinline__ void load_tile(uint16_t* smem, const uint16_t* gmem, int64_t row_stride, int valid_rows,
                                          bool vectorized) {
  if (vectorized) {
    constexpr int kChunksPerRow = Cfg::kHeadDim / 8;  // 16-byte chunks
    for (int c = threadIdx.x; c < kRows * kChunksPerRow; c += Cfg::kThreads) {
      const int r = c / kChunksPerRow;
      const int col = (c % kChunksPerRow) * 8;
      uint4 value = make_uint4(0u, 0u, 0u, 0u);
      if (r < valid_rows) value = *reinterpret_cast<const uint4*>(gmem + r * row_stride + col);
      *reinterpret_cast<uint4*>(smem + r * Cfg::kLdQKV + col) = value;
    }
  } else {
    for (int c = threadIdx.x; c < kRows * Cfg::kHeadDim; c += Cfg::kThreads) {
      const int r = c / Cfg::kHeadDim;
      const int col = c % Cfg::kHeadDim;
      smem[r * Cfg::kLdQKV + col] = r < valid_rows ? gmem[r * row_stride + col] : uint16_t{0};
    }
  }
}

__device__ __forceinline__ float warp_max(float x) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, offset));
  return x;
}
__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) x += __shfl_xor_sync(0xffffffffu, x, offset);
  return x;
}

// Per-warp softmax state for its 16 query rows, replicated in every lane
// (all lanes hold the same values; the row loops are unrolled so these stay
// in registers). m: running max of the scaled scores in log2 units
// (-inf while no key was seen); l: running sum of 2^(score - m).
template <class Cfg>
struct RowState {
  float m[Cfg::kRowsPerWarp];
  float l[Cfg::kRowsPerWarp];
};

// The tiled mainloop (sm_80+ tensor cores via wmma). Expects the Q tile in
// shared memory and O zeroed; leaves the unnormalised O in shared memory and
// the row state in `state`.
template <class Cfg, typename Element>
__device__ __forceinline__ void mainloop_wmma(const FwdArgs& args, unsigned char* smem, int batch, int kv_head, int m_start,
                              int n_blocks, RowState<Cfg>& state) {
  namespace wmma = nvcuda::wmma;
  const AttentionParams& p = args.p;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int row0 = warp * Cfg::kRowsPerWarp;  // this warp's first row in the tile

  auto* q_s = reinterpret_cast<Element*>(smem + Cfg::kQOffset);
  auto* k_s = reinterpret_cast<Element*>(smem + Cfg::kKOffset);
  auto* v_s = reinterpret_cast<Element*>(smem + Cfg::kVOffset);
  auto* s_s = reinterpret_cast<float*>(smem + Cfg::kSOffset);
  auto* p_s = reinterpret_cast<Element*>(smem + Cfg::kPOffset);
  auto* o_s = reinterpret_cast<float*>(smem + Cfg::kOOffset);

  constexpr int kDTiles = Cfg::kHeadDim / 16;
  constexpr int kNTiles = Cfg::kBlockN / 16;

  // This warp's 16 query rows, kept in registers for the whole loop.
  wmma::fragment<wmma::matrix_a, 16, 16, 16, Element, wmma::row_major> q_frag[kDTiles];
#pragma unroll
  for (int kt = 0; kt < kDTiles; ++kt) wmma::load_matrix_sync(q_frag[kt], q_s + row0 * Cfg::kLdQKV + kt * 16, Cfg::kLdQKV);

  const auto* k_g = static_cast<const uint16_t*>(p.k) + batch * p.k_strides.batch + kv_head * p.k_strides.head;
  const auto* v_g = static_cast<const uint16_t*>(p.v) + batch * p.v_strides.batch + kv_head * p.v_strides.head;
  const int causal_offset = p.kv_len - p.q_len;  // bottom-right alignment

  for (int nb = 0; nb < n_blocks; ++nb) {
    const int n_start = nb * Cfg::kBlockN;
    const int valid_keys = min(Cfg::kBlockN, p.kv_len - n_start);
    load_tile<Cfg, Cfg::kBlockN>(reinterpret_cast<uint16_t*>(k_s), k_g + n_start * p.k_strides.row, p.k_strides.row,
                                 valid_keys, args.vectorized);
    load_tile<Cfg, Cfg::kBlockN>(reinterpret_cast<uint16_t*>(v_s), v_g + n_start * p.v_strides.row, p.v_strides.row,
                                 valid_keys, args.vectorized);
    __syncthreads();

    // S[16 x 64] = Q K^T for this warp's rows. K is [key][d] in shared
    // memory, which is K^T in column-major order.
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> s_frag;
      wmma::fill_fragment(s_frag, 0.0f);
#pragma unroll
      for (int kt = 0; kt < kDTiles; ++kt) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, Element, wmma::col_major> k_frag;
        wmma::load_matrix_sync(k_frag, k_s + nt * 16 * Cfg::kLdQKV + kt * 16, Cfg::kLdQKV);
        wmma::mma_sync(s_frag, q_frag[kt], k_frag, s_frag);
      }
      wmma::store_matrix_sync(s_s + row0 * Cfg::kLdS + nt * 16, s_frag, Cfg::kLdS, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax, one row at a time across the warp (two keys per lane).
    // Key j is visible to query i when j < kv_len and, if causal,
    // j <= i + kv_len - q_len; masked keys get -inf, so 2^(-inf - m) = 0.
#pragma unroll
    for (int rr = 0; rr < Cfg::kRowsPerWarp; ++rr) {
      const int r = row0 + rr;
      const int query = m_start + r;
      int limit = p.kv_len;  // keys j < limit are visible
      if (p.causal) limit = min(limit, query + causal_offset + 1);
      const float* s_row = s_s + r * Cfg::kLdS;
      const int j0 = n_start + lane;
      const int j1 = n_start + lane + 32;
      const float x0 = j0 < limit ? s_row[lane] * args.scale_log2 : -INFINITY;
      const float x1 = j1 < limit ? s_row[lane + 32] * args.scale_log2 : -INFINITY;
      const float m_old = state.m[rr];
      const float m_new = fmaxf(m_old, warp_max(fmaxf(x0, x1)));
      float alpha = 1.0f, p0 = 0.0f, p1 = 0.0f;
      if (m_new != -INFINITY) {  // else no key seen yet: nothing to add, nothing to rescale
        alpha = exp2f(m_old - m_new);  // 0 when m_old is -inf
        p0 = exp2f(x0 - m_new);
        p1 = exp2f(x1 - m_new);
      }
      state.m[rr] = m_new;
      state.l[rr] = state.l[rr] * alpha + warp_sum(p0 + p1);
      Element* p_row = p_s + r * Cfg::kLdP;
      p_row[lane] = ElementTraits<Element>::from_float(p0);
      p_row[lane + 32] = ElementTraits<Element>::from_float(p1);
      float* o_row = o_s + r * Cfg::kLdO;
#pragma unroll
      for (int d = lane; d < Cfg::kHeadDim; d += 32) o_row[d] *= alpha;
    }
    __syncwarp();

    // O[16 x D] += P[16 x 64] V[64 x D], accumulating through shared memory.
    wmma::fragment<wmma::matrix_a, 16, 16, 16, Element, wmma::row_major> p_frag[kNTiles];
#pragma unroll
    for (int kt = 0; kt < kNTiles; ++kt) wmma::load_matrix_sync(p_frag[kt], p_s + row0 * Cfg::kLdP + kt * 16, Cfg::kLdP);
#pragma unroll
    for (int dt = 0; dt < kDTiles; ++dt) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> o_frag;
      float* o_tile = o_s + row0 * Cfg::kLdO + dt * 16;
      wmma::load_matrix_sync(o_frag, o_tile, Cfg::kLdO, wmma::mem_row_major);
#pragma unroll
      for (int kt = 0; kt < kNTiles; ++kt) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, Element, wmma::row_major> v_frag;
        wmma::load_matrix_sync(v_frag, v_s + kt * 16 * Cfg::kLdQKV + dt * 16, Cfg::kLdQKV);
        wmma::mma_sync(o_frag, p_frag[kt], v_frag, o_frag);
      }
      wmma::store_matrix_sync(o_tile, o_frag, Cfg::kLdO, wmma::mem_row_major);
    }
    __syncthreads();  // every warp is done with K/V before the next tile overwrites them
  }
}

// out = O / l in the input dtype; lse = ln(sum_j exp(scale * s_ij)) = (m + log2 l) ln 2.
// A row that saw no key (l == 0) writes zeros and lse = -inf.
template <class Cfg, typename Element>
__device__ __forceinline__ void epilogue(const FwdArgs& args, unsigned char* smem, int batch, int head, int m_start,
                         const RowState<Cfg>& state) {
  const AttentionParams& p = args.p;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int row0 = warp * Cfg::kRowsPerWarp;
  const auto* o_s = reinterpret_cast<const float*>(smem + Cfg::kOOffset);
  __syncwarp();
#pragma unroll
  for (int rr = 0; rr < Cfg::kRowsPerWarp; ++rr) {
    const int query = m_start + row0 + rr;
    if (query >= p.q_len) break;  // uniform across the warp
    const float l = state.l[rr];
    const float inv_l = l > 0.0f ? 1.0f / l : 0.0f;
    const float* o_row = o_s + (row0 + rr) * Cfg::kLdO;
    Element* out_row = static_cast<Element*>(p.out) + batch * p.out_strides.batch + head * p.out_strides.head +
                       query * p.out_strides.row;
#pragma unroll
    for (int d = lane; d < Cfg::kHeadDim; d += 32) out_row[d] = ElementTraits<Element>::from_float(o_row[d] * inv_l);
    if (p.lse != nullptr && lane == 0) {
      p.lse[(int64_t{batch} * p.q_heads + head) * p.q_len + query] =
          l > 0.0f ? (state.m[rr] + log2f(l)) * 0.6931471805599453f : -INFINITY;
    }
  }
}

template <class Cfg, typename Element>
__global__ void __launch_bounds__(Cfg::kThreads) attention_fwd_kernel(const FwdArgs args) {
  extern __shared__ __align__(128) unsigned char smem[];
  const AttentionParams& p = args.p;
  // Tile coordinates: one block per (query tile, q head, batch).
  const int m_start = blockIdx.x * Cfg::kBlockM;
  const int head = blockIdx.y;
  const int batch = blockIdx.z;
  const int kv_head = head / (p.q_heads / p.kv_heads);

  // Keys this tile needs: all of them, or under the causal mask only up to
  // the last visible key of the tile's last valid query. Key tiles past it
  // are fully masked and skipped; 0 tiles when no query of the tile sees a key.
  int n_end = p.kv_len;
  if (p.causal) {
    const int last_query = min(m_start + Cfg::kBlockM, p.q_len) - 1;
    n_end = max(0, min(p.kv_len, last_query + (p.kv_len - p.q_len) + 1));
  }
  const int n_blocks = (n_end + Cfg::kBlockN - 1) / Cfg::kBlockN;

  const auto* q_g = static_cast<const uint16_t*>(p.q) + batch * p.q_strides.batch + head * p.q_strides.head +
                    m_start * p.q_strides.row;
  load_tile<Cfg, Cfg::kBlockM>(reinterpret_cast<uint16_t*>(smem + Cfg::kQOffset), q_g, p.q_strides.row,
                               min(Cfg::kBlockM, p.q_len - m_start), args.vectorized);
  auto* o_s = reinterpret_cast<float*>(smem + Cfg::kOOffset);
  for (int i = threadIdx.x; i < Cfg::kBlockM * Cfg::kLdO; i += Cfg::kThreads) o_s[i] = 0.0f;
  RowState<Cfg> state;
#pragma unroll
  for (int rr = 0; rr < Cfg::kRowsPerWarp; ++rr) {
    state.m[rr] = -INFINITY;
    state.l[rr] = 0.0f;
  }
  __syncthreads();

  mainloop_wmma<Cfg, Element>(args, smem, batch, kv_head, m_start, n_blocks, state);
  epilogue<Cfg, Element>(args, smem, batch, head, m_start, state);
}

inline bool aligned16(const void* pointer) { return reinterpret_cast<std::uintptr_t>(pointer) % 16 == 0; }
inline bool strides_multiple_of_8(const TensorStrides& s) {
  return s.batch % 8 == 0 && s.head % 8 == 0 && s.row % 8 == 0;
}

// Host launcher for one (head_dim, dtype); params already validated.
template <int kHeadDim, typename Element>
void launch_attention_fwd(const AttentionParams& p, cudaStream_t stream) {
  using Cfg = TileConfig<kHeadDim>;
  if (p.q_heads > 65535 || p.batch > 65535) {
    throw std::invalid_argument("attention: q_heads and batch must be at most 65535 (grid limits), got q_heads " +
                                std::to_string(p.q_heads) + ", batch " + std::to_string(p.batch));
  }
  FwdArgs args{p, p.softmax_scale * 1.4426950408889634f,
               aligned16(p.q) && aligned16(p.k) && aligned16(p.v) && strides_multiple_of_8(p.q_strides) &&
                   strides_multiple_of_8(p.k_strides) && strides_multiple_of_8(p.v_strides)};
  auto* kernel = &attention_fwd_kernel<Cfg, Element>;
  constexpr int kSmem = Cfg::kSmemBytes;
  if (kSmem > 48 * 1024) {
    // Per device and cheap; set on every call so a change of device is covered.
    MLOPT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  }
  const dim3 grid((p.q_len + Cfg::kBlockM - 1) / Cfg::kBlockM, p.q_heads, p.batch);
  kernel<<<grid, Cfg::kThreads, kSmem, stream>>>(args);
  MLOPT_CUDA_CHECK_LAUNCH();
}

}  // namespace mlopt::kernels::attention_fwd
