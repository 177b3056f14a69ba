#pragma once
// Attention forward for Hopper (sm_90a), FlashAttention-3 style: TMA loads,
// wgmma on CuTe GMMA atoms, a warp-specialised producer/consumer pipeline
// on mbarriers. Built only into the sm_90a object library; the launcher
// (attention_prefill_sm90.cu) builds the TMA descriptors and picks the
// instantiation, one per attention_fwd_sm90_hdim*_*.cu file.
//
// Work split. One CTA of 3 warpgroups (384 threads) owns kBlockM = 128 query
// rows of one (batch, q head) and walks the key blocks those rows can see,
// kBlockN = 128 keys at a time, from the highest block down (the blocks
// that need masking, the kv_len tail and the causal diagonal, come first).
//   warpgroup 0, the producer: gives most of its registers back
//     (setmaxnreg), and one thread issues every TMA load: Q once, then K and
//     V of each key block into a 2-stage ring.
//   warpgroups 1 and 2, the consumers: 64 query rows each. S = Q K^T by an
//     SS wgmma (Q and K from shared memory), online softmax in registers
//     (fp32, base 2), P rounded to the input dtype in registers, O += P V by
//     an RS wgmma (P from registers, V from shared memory).
// Within a consumer the two GEMMs of consecutive blocks overlap the
// softmax (FA3's intra-warpgroup pipelining): step i issues S_i = Q K_i^T
// and O += P_{i-1} V_{i-1} back to back, waits for S_i only, runs the
// softmax of S_i while the P V wgmma runs, then waits for it and rescales O.
// Two consumer warpgroups on one SM also interleave on their own: one's
// softmax runs while the other's wgmma occupy the tensor cores.
//
// Pipeline (mbarriers in shared memory; phase bits as in PTX
// mbarrier.try_wait.parity: waiting on parity P returns once the phase
// with that parity has completed; a fresh barrier counts its previous
// phase, parity 1, as completed):
//   q_full            count 1: the producer's arrive.expect_tx; TMA adds the bytes
//   k_full[s], v_full[s]    likewise, per stage
//   k_empty[s], v_empty[s]  count 256: every consumer thread arrives once it
//                           no longer reads the stage (after its wgmma.wait)
// Load i (i = 0, 1, ...) uses stage i % 2 with phase (i / 2) & 1: consumers
// wait on full with that parity; the producer waits on empty with the
// opposite parity (its first pass over each stage returns at once).
//
// Shared memory. Q, K and V tiles are [rows][head_dim] 16-bit, stored as
// TMA writes them with CU_TENSOR_MAP_SWIZZLE_128B: one TMA box is
// [rows][64 elements = 128 bytes], 16-byte chunk c of row r lands at chunk
// c ^ (r % 8), boxes of the two 64-column halves of hdim 128 one after the
// other. That is exactly CuTe's tile_to_shape(GMMA::Layout_K_SW128_Atom,
// (rows, head_dim)) (an 8 x 64 atom repeated down the rows first, then
// across head_dim), which is what the wgmma descriptors are built from;
// every tile starts 1024-byte aligned (the swizzle pattern's period).
// K is the K-major B operand of S = Q K^T. For O = P V the B operand is
// V^T (n = head_dim, k = key): the same shared tile viewed as
// (head_dim, key), i.e. MN-major, which 16-bit wgmma reads directly.
//
// Register fragments (the GMMA layouts of cute/atom/mma_traits_sm90_gmma.hpp,
// CLayout_64xN and ALayout_64x16). In a consumer warpgroup, thread t
// (0..127) has warp w = t / 32, lane l, g = l / 4, q = l % 4.
//   S accumulator (64 x kBlockN per warpgroup), value i of the thread's
//   kBlockN / 2: row 16w + g + 8 ((i / 2) % 2), column 8 (i / 4) + 2q + i % 2.
//   So a thread holds two rows (h = 0, 1) and the 4 threads of a quad hold
//   the same rows: row max and sum reduce with shuffles xor 1 and 2.
//   P as the RS A operand, per k16 block kk, 8 values: (g, 2q), (g, 2q+1),
//   (g+8, 2q), (g+8, 2q+1), then the same at columns +8. These are S's
//   values 8kk .. 8kk+7 in order, so P is S converted element by element in
//   place, viewed with the compact layout ((2,2,2), 1, kBlockN / 16).
//   O accumulator: as S, with head_dim columns.
#include <cuda.h>  // CUtensorMap (a type only; no driver calls here)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cute/arch/mma_sm90.hpp>
#include <cute/atom/mma_atom.hpp>
#include <cute/atom/mma_traits_sm90_gmma.hpp>
#include <cute/tensor.hpp>
#include <cutlass/numeric_types.h>

#include <cmath>
#include <cstdint>

#include "mlopt/kernels/attention.h"
#include "mlopt/kernels/cuda_check.h"
#include "mbarrier_sm90.cuh"

namespace mlopt::kernels::attention_fwd_sm90 {

// Tile sizes. 128 x 128 tiles for both head dims (FA3's choice for hdim 128;
// at hdim 64 a 128-key block keeps the wgmma N large enough to run the
// tensor cores at full rate). Shared memory: Q 32 KB + 2 stages x (K + V)
// 64 KB each = 160 KB at hdim 128, half that at hdim 64. Registers: one CTA
// per SM (384 threads); the producer drops to 24 registers and the
// consumers rise to 240 (128 x 24 + 256 x 240 = 64512 <= 65536). Per
// consumer thread: O head_dim / 2, S 64, P 32 registers.
template <int kHeadDim_>
struct Sm90TileConfig {
  static constexpr int kHeadDim = kHeadDim_;
  static constexpr int kBlockM = 128;
  static constexpr int kBlockN = 128;
  static constexpr int kStages = 2;
  static constexpr int kConsumerThreads = 256;
  static constexpr int kThreads = 128 + kConsumerThreads;
  static constexpr int kProducerRegs = 24;
  static constexpr int kConsumerRegs = 240;
  static constexpr int kBoxCols = 64;  // one TMA box: 64 16-bit columns = the 128-byte swizzle span
  static constexpr int kBoxesPerRow = kHeadDim / kBoxCols;

  static constexpr int kQBytes = kBlockM * kHeadDim * 2;
  static constexpr int kKVBytes = kBlockN * kHeadDim * 2;  // one K (or V) stage
  static constexpr int kQOffset = 0;
  static constexpr int kKOffset = kQOffset + kQBytes;
  static constexpr int kVOffset = kKOffset + kStages * kKVBytes;
  static constexpr int kBarrierOffset = kVOffset + kStages * kKVBytes;
  static constexpr int kBarriers = 1 + 4 * kStages;  // q_full, k_full, v_full, k_empty, v_empty
  // + 1024: the dynamic shared memory base is aligned up to the swizzle period.
  static constexpr int kSmemBytes = kBarrierOffset + kBarriers * 8 + 1024;

  static_assert(kHeadDim % kBoxCols == 0, "whole 128-byte swizzle boxes per row");
  static_assert(kQBytes % 1024 == 0 && kKVBytes % 1024 == 0, "every tile starts on the swizzle period");
  static_assert(kBlockM == 2 * 64, "two consumer warpgroups of 64 rows (one m64 wgmma each)");
  static_assert(kSmemBytes <= 227 * 1024, "fits one CTA's shared memory on sm_90");
  static_assert(128 * kProducerRegs + kConsumerThreads * kConsumerRegs <= 65536, "register file of one SM");
};

// What the kernel gets: the user's params, the TMA descriptors of q, k, v
// (built on the host by the launcher), and the block order.
struct Sm90Args {
  CUtensorMap tma_q;  // dims (head_dim, q_len, q_heads, batch), box (64, kBlockM, 1, 1)
  CUtensorMap tma_k;  // dims (head_dim, kv_len, kv_heads, batch), box (64, kBlockN, 1, 1)
  CUtensorMap tma_v;
  AttentionParams p;
  float scale_log2;  // softmax_scale * log2(e): the softmax runs in base 2
  bool vec_out;      // out 16-byte aligned, batch/head/row strides multiples of 8: 16-byte stores
  int m_blocks;      // query tiles per (batch, q head)
  int chunk_heads;   // block order: (batch x q head) rows per chunk, see tile_of_block
};

namespace ptx {
__device__ __forceinline__ uint32_t smem_address(const void* pointer) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(pointer));
}
// mbarriers: mbarrier_sm90.cuh.
using sm90::mbar_arrive;
using sm90::mbar_arrive_expect_tx;
using sm90::mbar_init;
using sm90::mbar_init_fence;
using sm90::mbar_wait;
// One 4-d TMA box (coordinates innermost first) into shared memory,
// completing its bytes on `bar`.
__device__ __forceinline__ void tma_load_4d(uint32_t dst, const CUtensorMap* map, uint32_t bar, int c0, int c1, int c2,
                                            int c3) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%2, %3, %4, %5}], [%6];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(bar)
      : "memory");
}
__device__ __forceinline__ void prefetch_tma_descriptor(const CUtensorMap* map) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(map)) : "memory");
}
template <int kRegs>
__device__ __forceinline__ void setmaxnreg_dec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegs));
}
template <int kRegs>
__device__ __forceinline__ void setmaxnreg_inc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegs));
}
// Barrier among the 128 threads of one consumer warpgroup (ids 1, 2; 0 is __syncthreads).
__device__ __forceinline__ void warpgroup_barrier(int id) {
  asm volatile("bar.sync %0, 128;\n" ::"r"(id) : "memory");
}
// 2^x on the SFU; 2^-inf = +0.
__device__ __forceinline__ float exp2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}
// Two floats rounded to the 16-bit type, the first in the low half.
template <typename Element>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  if constexpr (cute::is_same_v<Element, cute::half_t>) {
    const __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  } else {
    const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&h);
  }
}
}  // namespace ptx

// The CuTe types of one instantiation.
template <class Cfg, class Element>
struct Sm90Kernel {
  using BlockM = cute::Int<Cfg::kBlockM>;
  using BlockN = cute::Int<Cfg::kBlockN>;
  using HeadDim = cute::Int<Cfg::kHeadDim>;
  using Stages = cute::Int<Cfg::kStages>;
  // 128B-swizzled K-major tiles, as TMA writes them (see the top).
  using SmemLayoutQ =
      decltype(cute::tile_to_shape(cute::GMMA::Layout_K_SW128_Atom<Element>{}, cute::Shape<BlockM, HeadDim>{}));
  using SmemLayoutKV = decltype(cute::tile_to_shape(cute::GMMA::Layout_K_SW128_Atom<Element>{},
                                                    cute::Shape<BlockN, HeadDim, Stages>{}));
  // V^T: (head_dim, key, stage) -> the element of V at (key, head_dim, stage).
  using SmemLayoutVt = decltype(cute::composition(
      SmemLayoutKV{}, cute::make_ordered_layout(cute::Shape<HeadDim, BlockN, Stages>{},
                                                cute::Step<cute::_2, cute::_1, cute::_3>{})));
  // Two warpgroups stacked along M, one m64 wgmma atom each.
  using AtomLayout = cute::Layout<cute::Shape<cute::_2, cute::_1, cute::_1>>;
  using TiledMmaS = decltype(cute::make_tiled_mma(
      cute::GMMA::ss_op_selector<Element, Element, float, cute::Shape<cute::_64, BlockN, HeadDim>>(), AtomLayout{}));
  using TiledMmaO = decltype(cute::make_tiled_mma(
      cute::GMMA::rs_op_selector<Element, Element, float, cute::Shape<cute::_64, HeadDim, BlockN>,
                                 cute::GMMA::Major::K, cute::GMMA::Major::MN>(),
      AtomLayout{}));
  // P (per thread) as the RS A operand: S's values in order, see the top.
  using LayoutP = cute::Layout<cute::Shape<cute::Shape<cute::_2, cute::_2, cute::_2>, cute::_1,
                                           cute::Int<Cfg::kBlockN / 16>>>;
};

// Issues one warpgroup GEMM C (+)= A B over all k blocks and commits it as
// one wgmma group; the caller waits (warpgroup_wait) and fences C after.
// kZeroInit: the first k block overwrites C instead of accumulating.
template <bool kZeroInit, class TiledMma, class TA, class TB, class TC>
__device__ __forceinline__ void gemm_issue(TiledMma& mma, const TA& a, const TB& b, TC& c) {
  using namespace cute;
  warpgroup_fence_operand(c);
  warpgroup_arrive();
  if constexpr (kZeroInit) mma.accumulate_ = GMMA::ScaleOut::Zero;
  CUTE_UNROLL
  for (int kb = 0; kb < size<2>(a); ++kb) {
    cute::gemm(mma, a(_, _, kb), b(_, _, kb), c);
    mma.accumulate_ = GMMA::ScaleOut::One;
  }
  warpgroup_commit_batch();
}

// One key block of the online softmax on this thread's two rows. In: S
// (raw dot products, fp32). Out: S holds P = 2^(scale_log2 * S - m_new)
// (fp32, unrounded), m moves to the new row max, l to l * alpha + sum(P),
// alpha = 2^(m_old - m_new) (the factor O must be rescaled by). With kMask
// key j of row h is kept only when j < limit[h].
// kRawMax (scale_log2 > 0, the normal case): scaling is monotonic, so the
// max is taken over raw scores and each element costs one FFMA before its
// exp2. Without it (scale <= 0) the scores are scaled first.
template <bool kMask, bool kRawMax, int kValues, class TS>
__device__ __forceinline__ void softmax_step(TS& s, float (&m)[2], float (&l)[2], float (&alpha)[2], float scale_log2,
                                             int key0, const int (&limit)[2]) {
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float m_tile = -INFINITY;
#pragma unroll
    for (int j = 0; j < kValues / 4; ++j) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int i = 4 * j + 2 * h + e;
        float x = s(i);
        if constexpr (!kRawMax) x *= scale_log2;
        if (kMask && key0 + 8 * j + e >= limit[h]) x = -INFINITY;
        s(i) = x;
        m_tile = fmaxf(m_tile, x);
      }
    }
    // The 4 threads of a quad hold the same row.
    m_tile = fmaxf(m_tile, __shfl_xor_sync(0xffffffffu, m_tile, 1));
    m_tile = fmaxf(m_tile, __shfl_xor_sync(0xffffffffu, m_tile, 2));
    const float m_new = fmaxf(m[h], kRawMax ? m_tile * scale_log2 : m_tile);
    // No visible key yet (m_new = -inf): subtract 0 instead, so that
    // 2^(-inf - 0) = 0 rather than NaN.
    const float m_use = m_new == -INFINITY ? 0.0f : m_new;
    alpha[h] = ptx::exp2_approx(m[h] - m_use);  // 0 while m_old = -inf
    m[h] = m_new;
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < kValues / 4; ++j) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int i = 4 * j + 2 * h + e;
        const float p = ptx::exp2_approx(kRawMax ? fmaf(s(i), scale_log2, -m_use) : s(i) - m_use);
        s(i) = p;
        sum += p;
      }
    }
    l[h] = l[h] * alpha[h] + sum;
  }
}

// The (batch x q head) row and query tile of a CTA. Chunks of chunk_heads
// rows run one after the other; within a chunk the tiles go by rank (rank
// 0 = the last tile, the heaviest under the causal mask), all rows of the
// chunk at one rank before the next. Non-causal launches use chunks of one
// row: all tiles of one head run together and share its K/V in L2. Causal
// ones use chunks wide enough that heaviest-first balances the tail.
struct TileCoords {
  int head_row;
  int m_block;
};
__device__ __forceinline__ TileCoords tile_of_block(int position, int head_rows, int m_blocks, int chunk_heads) {
  const int per_chunk = chunk_heads * m_blocks;
  const int chunk = position / per_chunk;
  const int within = position - chunk * per_chunk;
  const int first = chunk * chunk_heads;  // every earlier chunk is full
  const int heads_here = min(chunk_heads, head_rows - first);
  return {first + within % heads_here, m_blocks - 1 - within / heads_here};
}

template <class Cfg, class Element, bool kRawMax>
__global__ void __launch_bounds__(Cfg::kThreads, 1) attention_fwd_sm90_kernel(const __grid_constant__ Sm90Args args) {
  using namespace cute;
  using K = Sm90Kernel<Cfg, Element>;
  constexpr int kBlockM = Cfg::kBlockM;
  constexpr int kBlockN = Cfg::kBlockN;
  constexpr int kStages = Cfg::kStages;
  const AttentionParams& p = args.p;

  extern __shared__ unsigned char smem_raw[];
  const uint32_t raw_address = ptx::smem_address(smem_raw);
  unsigned char* smem = smem_raw + ((1024u - raw_address % 1024u) % 1024u);
  const uint32_t smem_base = ptx::smem_address(smem);
  const uint32_t q_full = smem_base + Cfg::kBarrierOffset;
  auto k_full = [&](int s) { return q_full + 8u * (1 + s); };
  auto v_full = [&](int s) { return q_full + 8u * (1 + kStages + s); };
  auto k_empty = [&](int s) { return q_full + 8u * (1 + 2 * kStages + s); };
  auto v_empty = [&](int s) { return q_full + 8u * (1 + 3 * kStages + s); };

  const TileCoords tile = tile_of_block(static_cast<int>(blockIdx.x), p.batch * p.q_heads, args.m_blocks,
                                        args.chunk_heads);
  const int batch = tile.head_row / p.q_heads;
  const int head = tile.head_row % p.q_heads;
  const int kv_head = head / (p.q_heads / p.kv_heads);
  const int m_start = tile.m_block * kBlockM;
  const int causal_offset = p.kv_len - p.q_len;  // bottom-right alignment
  // Keys the tile needs: all, or under the causal mask up to the last key
  // its last valid query sees; 0 blocks when no query of the tile sees a key.
  int n_end = p.kv_len;
  if (p.causal) {
    const int last_query = min(m_start + kBlockM, p.q_len) - 1;
    n_end = max(0, min(p.kv_len, last_query + causal_offset + 1));
  }
  const int n_blocks = (n_end + kBlockN - 1) / kBlockN;

  if (threadIdx.x == 0) {
    ptx::mbar_init(q_full, 1);
    for (int s = 0; s < kStages; ++s) {
      ptx::mbar_init(k_full(s), 1);
      ptx::mbar_init(v_full(s), 1);
      ptx::mbar_init(k_empty(s), Cfg::kConsumerThreads);
      ptx::mbar_init(v_empty(s), Cfg::kConsumerThreads);
    }
    ptx::mbar_init_fence();
  }
  __syncthreads();

  if (threadIdx.x < 128) {
    // ---- Producer warpgroup: one thread issues every load. ----
    ptx::setmaxnreg_dec<Cfg::kProducerRegs>();
    if (threadIdx.x == 0 && n_blocks > 0) {
      ptx::prefetch_tma_descriptor(&args.tma_q);
      ptx::prefetch_tma_descriptor(&args.tma_k);
      ptx::prefetch_tma_descriptor(&args.tma_v);
      ptx::mbar_arrive_expect_tx(q_full, Cfg::kQBytes);
      for (int box = 0; box < Cfg::kBoxesPerRow; ++box) {
        ptx::tma_load_4d(smem_base + Cfg::kQOffset + box * kBlockM * 128, &args.tma_q, q_full, box * Cfg::kBoxCols,
                         m_start, head, batch);
      }
      for (int i = 0; i < n_blocks; ++i) {
        const int stage = i % kStages;
        const uint32_t phase = (i / kStages) & 1;
        const int key0 = (n_blocks - 1 - i) * kBlockN;
        ptx::mbar_wait(k_empty(stage), phase ^ 1);
        ptx::mbar_arrive_expect_tx(k_full(stage), Cfg::kKVBytes);
        for (int box = 0; box < Cfg::kBoxesPerRow; ++box) {
          ptx::tma_load_4d(smem_base + Cfg::kKOffset + stage * Cfg::kKVBytes + box * kBlockN * 128, &args.tma_k,
                           k_full(stage), box * Cfg::kBoxCols, key0, kv_head, batch);
        }
        ptx::mbar_wait(v_empty(stage), phase ^ 1);
        ptx::mbar_arrive_expect_tx(v_full(stage), Cfg::kKVBytes);
        for (int box = 0; box < Cfg::kBoxesPerRow; ++box) {
          ptx::tma_load_4d(smem_base + Cfg::kVOffset + stage * Cfg::kKVBytes + box * kBlockN * 128, &args.tma_v,
                           v_full(stage), box * Cfg::kBoxCols, key0, kv_head, batch);
        }
      }
    }
    return;
  }

  // ---- Consumer warpgroups. ----
  ptx::setmaxnreg_inc<Cfg::kConsumerRegs>();
  const int ct = threadIdx.x - 128;  // 0..255: the thread index the tiled MMAs know
  const int wg = ct / 128;           // 0, 1: rows 64 wg .. 64 wg + 63 of the tile
  const int lane = ct % 32;
  const int row0 = 64 * wg + 16 * ((ct % 128) / 32) + lane / 4;  // tile row of the thread's h = 0 values

  typename K::TiledMmaS mma_s;
  typename K::TiledMmaO mma_o;
  auto thr_s = mma_s.get_thread_slice(ct);
  auto thr_o = mma_o.get_thread_slice(ct);
  Tensor sQ = make_tensor(make_smem_ptr(reinterpret_cast<Element*>(smem + Cfg::kQOffset)), typename K::SmemLayoutQ{});
  Tensor sK = make_tensor(make_smem_ptr(reinterpret_cast<Element*>(smem + Cfg::kKOffset)), typename K::SmemLayoutKV{});
  Tensor sVt = make_tensor(make_smem_ptr(reinterpret_cast<Element*>(smem + Cfg::kVOffset)), typename K::SmemLayoutVt{});
  Tensor tSrQ = thr_s.partition_fragment_A(sQ);   // wgmma descriptors, (1, 1, head_dim / 16)
  Tensor tSrK = thr_s.partition_fragment_B(sK);   // (1, 1, head_dim / 16, stages)
  Tensor tOrV = thr_o.partition_fragment_B(sVt);  // (1, 1, kBlockN / 16, stages)
  Tensor tSrS = partition_fragment_C(mma_s, Shape<Int<kBlockM>, Int<kBlockN>>{});
  Tensor tOrO = partition_fragment_C(mma_o, Shape<Int<kBlockM>, Int<Cfg::kHeadDim>>{});
  constexpr int kSValues = kBlockN / 2;
  static_assert(decltype(size(tSrS))::value == kSValues, "S: kBlockN / 2 fp32 values per thread (see the top)");
  static_assert(decltype(size(tOrO))::value == Cfg::kHeadDim / 2, "O: head_dim / 2 fp32 values per thread");
  // P in the input dtype, two values per register, viewed as the A operand.
  uint32_t pk[kSValues / 2];
  Tensor tOrP = make_tensor(make_rmem_ptr(reinterpret_cast<Element*>(pk)), typename K::LayoutP{});
  static_assert(decltype(size(tOrP))::value == kSValues, "P: one 16-bit value per S value");

  clear(tOrO);
  float m[2] = {-INFINITY, -INFINITY};  // running row max of the scaled scores, log2 units
  float l[2] = {0.0f, 0.0f};            // running sum of this thread's P values (the quad sums at the end)
  // Per row: keys below this are visible (kv_len tail, causal diagonal).
  int limit[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int query = m_start + row0 + 8 * h;
    limit[h] = p.causal ? min(p.kv_len, query + causal_offset + 1) : p.kv_len;
  }
  // A block needs the mask when it holds keys past kv_len or past the
  // diagonal of the tile's first row (the row that sees the fewest keys).
  auto needs_mask = [&](int n) {
    const int key_end = (n + 1) * kBlockN;
    return key_end > p.kv_len || (p.causal && key_end - 1 > m_start + causal_offset);
  };
  auto softmax = [&](int n, float (&alpha)[2]) {
    const int key0 = n * kBlockN + 2 * (lane % 4);
    if (needs_mask(n)) {
      softmax_step<true, kRawMax, kSValues>(tSrS, m, l, alpha, args.scale_log2, key0, limit);
    } else {
      softmax_step<false, kRawMax, kSValues>(tSrS, m, l, alpha, args.scale_log2, key0, limit);
    }
  };
  auto convert_p = [&] {
#pragma unroll
    for (int i = 0; i < kSValues / 2; ++i) pk[i] = ptx::pack2<Element>(tSrS(2 * i), tSrS(2 * i + 1));
  };
  auto fence_p = [&] {
#pragma unroll
    for (int i = 0; i < kSValues / 2; ++i) warpgroup_fence_operand(pk[i]);
  };

  if (n_blocks > 0) {
    ptx::mbar_wait(q_full, 0);
    // Block n_blocks - 1 (load 0): S and its softmax; O is still zero.
    {
      ptx::mbar_wait(k_full(0), 0);
      gemm_issue<true>(mma_s, tSrQ, tSrK(_, _, _, 0), tSrS);
      warpgroup_wait<0>();
      warpgroup_fence_operand(tSrS);
      ptx::mbar_arrive(k_empty(0));
      float alpha[2];
      softmax(n_blocks - 1, alpha);
      convert_p();
    }
    // Load i: S_i overlaps P_{i-1} V_{i-1}.
    for (int i = 1; i < n_blocks; ++i) {
      const int stage = i % kStages;
      const uint32_t phase = (i / kStages) & 1;
      const int prev = (i - 1) % kStages;
      const uint32_t prev_phase = ((i - 1) / kStages) & 1;
      ptx::mbar_wait(k_full(stage), phase);
      gemm_issue<true>(mma_s, tSrQ, tSrK(_, _, _, stage), tSrS);
      ptx::mbar_wait(v_full(prev), prev_phase);
      fence_p();
      gemm_issue<false>(mma_o, tOrP, tOrV(_, _, _, prev), tOrO);
      warpgroup_wait<1>();  // S_i done (groups complete in order); P V may still run
      warpgroup_fence_operand(tSrS);
      ptx::mbar_arrive(k_empty(stage));
      float alpha[2];
      softmax(n_blocks - 1 - i, alpha);
      warpgroup_wait<0>();  // P_{i-1} V_{i-1} done: its registers and V stage are free
      warpgroup_fence_operand(tOrO);
      fence_p();
      ptx::mbar_arrive(v_empty(prev));
#pragma unroll
      for (int i_o = 0; i_o < Cfg::kHeadDim / 2; ++i_o) tOrO(i_o) *= alpha[(i_o / 2) % 2];
      convert_p();
    }
    // The last P V.
    {
      const int last = (n_blocks - 1) % kStages;
      ptx::mbar_wait(v_full(last), ((n_blocks - 1) / kStages) & 1);
      fence_p();
      gemm_issue<false>(mma_o, tOrP, tOrV(_, _, _, last), tOrO);
      warpgroup_wait<0>();
      warpgroup_fence_operand(tOrO);
      ptx::mbar_arrive(v_empty(last));
    }
  }

  // ---- Epilogue: out = O / l, lse = (m + log2 l) ln 2; a row that saw no
  // key (l = 0) gets zeros and lse = -inf; rows >= q_len are not written.
  float inv_l[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float sum = l[h];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    inv_l[h] = sum > 0.0f ? 1.0f / sum : 0.0f;
    const int query = m_start + row0 + 8 * h;
    if (p.lse != nullptr && lane % 4 == 0 && query < p.q_len) {
      p.lse[(int64_t{batch} * p.q_heads + head) * p.q_len + query] =
          sum > 0.0f ? (m[h] + log2f(sum)) * 0.6931471805599453f : -INFINITY;
    }
  }
  // Stage the warpgroup's 64 rows where its own Q rows were, in Q's own
  // swizzled layout (16-byte chunk c of row r in box c / 8 at chunk
  // (c % 8) ^ (r % 8)): its last wgmma reading them has completed, while the
  // other warpgroup may still be reading its rows, which this never touches
  // (a plain [row][head_dim] staging would, at hdim 128). The swizzle also
  // puts the 8 rows of one store, and the 8 chunks of one load below, in 8
  // different bank groups.
  constexpr int kChunks = Cfg::kHeadDim / 8;
  unsigned char* stage_tile = smem + Cfg::kQOffset;
  auto stage_offset = [](int r, int c) { return (c / 8) * (kBlockM * 128) + r * 128 + (((c % 8) ^ (r % 8)) * 16); };
#pragma unroll
  for (int j = 0; j < kChunks; ++j)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int r = row0 + 8 * h;
      const int i = 4 * j + 2 * h;
      *reinterpret_cast<uint32_t*>(stage_tile + stage_offset(r, j) + 4 * (lane % 4)) =
          ptx::pack2<Element>(tOrO(i) * inv_l[h], tOrO(i + 1) * inv_l[h]);
    }
  ptx::warpgroup_barrier(1 + wg);

  auto* out = static_cast<uint16_t*>(p.out) + batch * p.out_strides.batch + head * p.out_strides.head;
#pragma unroll
  for (int it = 0; it < 64 * kChunks / 128; ++it) {
    const int idx = it * 128 + ct % 128;
    const int r = 64 * wg + idx / kChunks;  // tile row
    const int c = idx % kChunks;
    const int query = m_start + r;
    if (query >= p.q_len) continue;
    const uint4 value = *reinterpret_cast<const uint4*>(stage_tile + stage_offset(r, c));
    uint16_t* dst = out + query * p.out_strides.row + c * 8;
    if (args.vec_out) {
      *reinterpret_cast<uint4*>(dst) = value;
    } else {
      const uint32_t words[4] = {value.x, value.y, value.z, value.w};
#pragma unroll
      for (int e = 0; e < 8; ++e) dst[e] = static_cast<uint16_t>(words[e / 2] >> (16 * (e % 2)));
    }
  }
}

// Host launcher for one (head_dim, dtype): `args` complete (descriptors,
// order); the caller checked eligibility and grid limits.
template <int kHeadDim, typename Element>
void launch_attention_fwd_sm90(const Sm90Args& args, cudaStream_t stream) {
  using Cfg = Sm90TileConfig<kHeadDim>;
  // The FFMA softmax needs a positive scale (see softmax_step).
  auto* kernel = args.scale_log2 > 0.0f ? &attention_fwd_sm90_kernel<Cfg, Element, true>
                                        : &attention_fwd_sm90_kernel<Cfg, Element, false>;
  MLOPT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Cfg::kSmemBytes));
  const int64_t blocks = int64_t{args.p.batch} * args.p.q_heads * args.m_blocks;
  kernel<<<static_cast<unsigned>(blocks), Cfg::kThreads, Cfg::kSmemBytes, stream>>>(args);
  MLOPT_CUDA_CHECK_LAUNCH();
}

}  // namespace mlopt::kernels::attention_fwd_sm90
