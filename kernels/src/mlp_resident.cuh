#pragma once
// MlpImpl::kResident: one projection of a small MLP at 17-128 tokens per
// launch, every block holding its whole slice of K in shared memory.
//
// At 128 tokens GPT-2 small's projections are too small for a pipelined
// GEMM: cuBLASLt's down projection runs 48 blocks of 32 x 64 outputs, each
// streaming a 393 KB column panel of the weight through a few stages, and
// mlopt's tiled GEMM ran 24 blocks whose 4-stage ring keeps only 48 KB in
// flight per SM. Both are bound by round trips, not bytes (H100,
// 2026-12-06: bench_weight_stream reads the 4.7 MB weight in no less than
// 7.3 us with any pattern; a block of the removed cluster GEMM took 7 us
// for its 144 KB of operands). So here:
//
//   - Each block owns a tile of block_m tokens x 64 features and a slice of
//     K; the slices of one tile are the blocks of a thread-block cluster
//     (grid y, at most 8), so a tile's K is spread over up to 8 SMs.
//   - A block issues every cp.async of its slice at once (one commit group
//     per K step of 64), so the SM has all of its operands in flight (up to
//     216 KiB) and computes step s as soon as group s lands.
//   - The down projection is a programmatic dependent launch: its weights
//     are no kernel's output, so it requests them before it waits for the
//     up projection, and only h after.
//   - The splits meet in distributed shared memory: each block writes its
//     fp32 sums into its own (now idle) operand memory, one cluster barrier,
//     then block r reads its share of every block's sums from the peers
//     (in rank order: deterministic), finishes it (bias, activation,
//     residual; the same fp32 operations as mlp_gemm.cuh's epilogue) and
//     stores it; a last cluster barrier keeps every block's sums alive until
//     its peers have read them. No partial sums in memory, no reduction
//     kernel.
//
// The mma work is mlp_gemm.cuh's (TileConfig, Loader, StageMma: ldmatrix
// and mma.sync m16n8k16 with fp32 accumulators). Plain MLPs only (the
// planner and mlp_launch.cpp say so). Needs compute capability 9.0
// (clusters, griddepcontrol); mlp_launch.cpp checks the device.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "cluster_launch.cuh"
#include "mlopt/kernels/cuda_check.h"
#include "mlp_activation.cuh"
#include "mlp_dispatch.h"
#include "mlp_gemm.cuh"
#include "mma_sm80.cuh"

namespace mlopt::kernels::mlp_resident {

using mlp_detail::Convert;
using mlp_detail::Epilogue;
using mlp_detail::ResidentArgs;
using mlp_gemm::Accumulators;
using mlp_gemm::TileCoord;

constexpr int kThreads = 256;

// Tiles of kBlockM tokens x 64 features, K steps of 64, 8 warps: 4 x 2 of
// 32 x 32 (128 tokens) or 16 x 32 (64), 2 x 4 of 16 x 16 (32). kStages is
// the most steps a block holds (the launch sizes shared memory for the
// steps it has).
template <int kBlockM>
using ConfigFor = mlp_gemm::TileConfig<kBlockM, mlp_detail::kResidentTileN, mlp_detail::kResidentStepK,
                                       kBlockM == 32 ? 2 : 4, kBlockM == 32 ? 4 : 2,
                                       mlp_detail::resident_max_steps(kBlockM), 1>;

// Slots (float4s of accumulators) of a tile: see Slot.
template <class Cfg>
constexpr int kSlots = Cfg::kMI * Cfg::kNI * kThreads;

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900

using cluster_launch::launch_next_grid;
using cluster_launch::wait_for_previous_grid;
__device__ __forceinline__ void cluster_sync() {
  asm volatile("barrier.cluster.arrive.release.aligned;\n" ::: "memory");
  asm volatile("barrier.cluster.wait.acquire.aligned;\n" ::: "memory");
}
// 16 bytes of block `rank`'s shared memory at the offset of `local` in this block's.
__device__ __forceinline__ float4 load_from_peer(const float4* local, int rank) {
  uint32_t peer;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n"
               : "=r"(peer)
               : "r"(static_cast<uint32_t>(__cvta_generic_to_shared(local))), "r"(rank));
  float4 v;
  asm volatile("ld.shared::cluster.v4.f32 {%0, %1, %2, %3}, [%4];\n"
               : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w)
               : "r"(peer)
               : "memory");
  return v;
}

// Waits until at most `pending` committed cp.async groups are in flight
// (more, where the count exceeds what is spelled out: waiting longer is safe).
__device__ __forceinline__ void cp_async_wait_at_most(int pending) {
  using sm80::cp_async_wait;
  switch (pending) {
    case 0: cp_async_wait<0>(); break;
    case 1: cp_async_wait<1>(); break;
    case 2: cp_async_wait<2>(); break;
    case 3: cp_async_wait<3>(); break;
    case 4: cp_async_wait<4>(); break;
    case 5: cp_async_wait<5>(); break;
    case 6: cp_async_wait<6>(); break;
    case 7: cp_async_wait<7>(); break;
    case 8: cp_async_wait<8>(); break;
    case 9: cp_async_wait<9>(); break;
    case 10: cp_async_wait<10>(); break;
    case 11: cp_async_wait<11>(); break;
    case 12: cp_async_wait<12>(); break;
    case 13: cp_async_wait<13>(); break;
    case 14: cp_async_wait<14>(); break;
    default: cp_async_wait<15>(); break;
  }
}

// A slot is one float4 of one thread's accumulators: slot q holds
// accumulator (mi, ni) = (i / kNI, i % kNI), i = q / kThreads, of thread
// q % kThreads. Its four sums are the outputs (row, f), (row, f + 1),
// (row + 8, f), (row + 8, f + 1) of the tile.
template <class Cfg>
struct Slot {
  int row, f;
  __device__ __forceinline__ Slot(const TileCoord& t, int q) {
    const int i = q / kThreads, thread = q % kThreads;
    const int warp = thread / 32, lane = thread % 32;
    const int warp_m = warp / Cfg::kWarpsN, warp_n = warp % Cfg::kWarpsN;
    row = t.m0 + warp_m * Cfg::kWarpM + (i / Cfg::kNI) * 16 + lane / 4;
    f = t.f0 + warp_n * Cfg::kWarpN + (i % Cfg::kNI) * 8 + (lane % 4) * 2;
  }
};

// What a slot's epilogue reads besides its sums, loaded before they are
// ready: the bias of its two features and the residual of its four outputs.
struct SlotInputs {
  float bias[2] = {0.0f, 0.0f};
  float residual[4] = {0.0f, 0.0f, 0.0f, 0.0f};
};
template <typename Element, class Cfg>
__device__ __forceinline__ SlotInputs load_slot_inputs(const ResidentArgs& r, const Slot<Cfg>& s) {
  SlotInputs in;
  const Epilogue& e = r.epilogue;
  if (s.f >= r.n) return in;  // f even and n % 8 == 0: f + 1 < n too
  if (e.bias != nullptr) {
    in.bias[0] = mlp_detail::load_as_float<Element>(e.bias, s.f);
    in.bias[1] = mlp_detail::load_as_float<Element>(e.bias, s.f + 1);
  }
  if (e.residual != nullptr) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int row = s.row + 8 * half;
      if (row >= r.m) continue;
      const int64_t at = static_cast<int64_t>(row) * r.n + s.f;
      in.residual[2 * half] = mlp_detail::load_as_float<Element>(e.residual, at);
      in.residual[2 * half + 1] = mlp_detail::load_as_float<Element>(e.residual, at + 1);
    }
  }
  return in;
}

// act(sum + bias) of a slot's four sums. Not inlined: with the
// activation's erf, tanh and exp inlined for each of up to 64 sums per
// thread, the 128-token kernel was 164 KB of code.
__device__ __noinline__ float4 activate_slot(float4 sum, float bias0, float bias1, Activation a) {
  return make_float4(mlp_detail::activate(sum.x + bias0, a), mlp_detail::activate(sum.y + bias1, a),
                     mlp_detail::activate(sum.z + bias0, a), mlp_detail::activate(sum.w + bias1, a));
}

// act(sum + bias) + residual, rounded once, stored (the operations of
// mlp_gemm.cuh's register_epilogue, in the same order).
template <typename Element, class Cfg>
__device__ __forceinline__ void finish_slot(const ResidentArgs& r, const Slot<Cfg>& s, const float4& sum,
                                            const SlotInputs& in) {
  using Pair = decltype(Convert<Element>::pair(0.0f, 0.0f));
  if (s.f >= r.n) return;
  const float4 a = activate_slot(sum, in.bias[0], in.bias[1], r.epilogue.activation);
  const float v[4] = {a.x + in.residual[0], a.y + in.residual[1], a.z + in.residual[2], a.w + in.residual[3]};
  auto* out = static_cast<Element*>(r.epilogue.out);
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int row = s.row + 8 * half;
    if (row >= r.m) continue;
    *reinterpret_cast<Pair*>(out + static_cast<int64_t>(row) * r.n + s.f) =
        Convert<Element>::pair(v[2 * half], v[2 * half + 1]);
  }
}

template <int kBlockM, typename Element, WeightLayout kLayout>
__global__ void __launch_bounds__(kThreads, 1) mlp_resident_kernel(const ResidentArgs r) {
  using Cfg = ConfigFor<kBlockM>;
  static_assert(Cfg::kThreads == kThreads, "8 warps");
  constexpr int kStageA = Cfg::kStageA;
  constexpr int kStageW = Cfg::template stage_w<kLayout>();
  constexpr int kPerThread = Cfg::kMI * Cfg::kNI;  // slots (float4 accumulators) per thread
  extern __shared__ __align__(128) unsigned char smem[];

  const int split = static_cast<int>(blockIdx.y), splits = r.splits;  // the grid's y is one cluster
  const int steps = r.k_tiles_per_split;  // per block: shared memory holds this many
  TileCoord t;
  t.m0 = static_cast<int>(blockIdx.z) * kBlockM;
  t.f0 = static_cast<int>(blockIdx.x) * Cfg::kTileN;
  t.split = split;
  t.k_begin = split * steps * Cfg::kBlockK;
  t.k_end = min(r.k, t.k_begin + steps * Cfg::kBlockK);
  t.k_tiles = t.k_end > t.k_begin ? (t.k_end - t.k_begin + Cfg::kBlockK - 1) / Cfg::kBlockK : 0;

  const uint32_t a_smem = sm80::smem_address(smem);
  const uint32_t w_smem = a_smem + steps * kStageA * 2;
  const mlp_gemm::Loader<Cfg, Element, kLayout, false> loader(r, t);
  const auto w_stage = [&](int s) { return w_smem + s * kStageW * 2; };
  const auto a_stage = [&](int s) { return a_smem + s * kStageA * 2; };

  // One commit group per step (empty past this block's steps, so every
  // block counts the same groups): step s is in once at most steps - 1 - s
  // groups are pending.
  if (r.weights_before_wait) {
    // The weights first, while the up projection may still run; h after.
    for (int s = 0; s < steps; ++s) {
      if (s < t.k_tiles) loader.load_w(w_stage(s), t.k_begin + s * Cfg::kBlockK, r.w);
      sm80::cp_async_commit();
    }
    wait_for_previous_grid();
    for (int s = 0; s < steps; ++s) {
      if (s < t.k_tiles) loader.load_a(a_stage(s), t.k_begin + s * Cfg::kBlockK, r.w);
      sm80::cp_async_commit();
    }
  } else {
    // x may be the previous kernel's output. Once every block is past this
    // wait the next kernel (the down projection) may launch and fetch its
    // weights beside this one.
    wait_for_previous_grid();
    launch_next_grid();
    for (int s = 0; s < steps; ++s) {
      if (s < t.k_tiles) loader.load(a_stage(s), w_stage(s), t.k_begin + s * Cfg::kBlockK, r.w);
      sm80::cp_async_commit();
    }
  }

  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const mlp_gemm::StageMma<Cfg, Element, kLayout> stage_mma(warp / Cfg::kWarpsN, warp % Cfg::kWarpsN, lane);
  Accumulators<Cfg> acc;
  mlp_gemm::zero(acc);
#pragma unroll 1
  for (int s = 0; s < t.k_tiles; ++s) {
    cp_async_wait_at_most(steps - 1 - s);
    __syncthreads();  // step s landed for every thread's pieces
    stage_mma.run(a_stage(s), w_stage(s), acc);
  }
  sm80::cp_async_wait<0>();
  if (r.weights_before_wait) launch_next_grid();

  // Which slots this thread finishes: all its own (one block), or its
  // share of block `split`'s range of the tile's slots.
  constexpr int kQ = kSlots<Cfg>;
  const int per_block = splits > 1 ? (kQ + splits - 1) / splits : kQ;
  const auto owned = [&](int j) { return split * per_block + static_cast<int>(threadIdx.x) + j * kThreads; };
  const auto is_owned = [&](int j) {
    return static_cast<int>(threadIdx.x) + j * kThreads < per_block && owned(j) < kQ;
  };
  SlotInputs inputs[kPerThread];
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    if (is_owned(j)) inputs[j] = load_slot_inputs<Element, Cfg>(r, Slot<Cfg>(t, owned(j)));
  }

  if (splits == 1) {
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      const float* c = acc.c[j / Cfg::kNI][j % Cfg::kNI];
      finish_slot<Element, Cfg>(r, Slot<Cfg>(t, owned(j)), make_float4(c[0], c[1], c[2], c[3]), inputs[j]);
    }
    return;
  }

  // The block's sums in slot order over its idle operand memory (each warp
  // writes 512 consecutive bytes per store: no bank conflicts).
  __syncthreads();  // every warp is done reading the operands
  auto* sums = reinterpret_cast<float4*>(smem);
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    const float* c = acc.c[j / Cfg::kNI][j % Cfg::kNI];
    sums[j * kThreads + threadIdx.x] = make_float4(c[0], c[1], c[2], c[3]);
  }
  cluster_sync();  // every block's sums are written and visible
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    if (!is_owned(j)) continue;
    const int q = owned(j);
    float4 s = load_from_peer(sums + q, 0);
    for (int b = 1; b < splits; ++b) {
      const float4 p = load_from_peer(sums + q, b);
      s.x += p.x;
      s.y += p.y;
      s.z += p.z;
      s.w += p.w;
    }
    finish_slot<Element, Cfg>(r, Slot<Cfg>(t, q), s, inputs[j]);
  }
  cluster_sync();  // no block leaves while a peer may still read its sums
}

#else

template <int kBlockM, typename Element, WeightLayout kLayout>
__global__ void mlp_resident_kernel(const ResidentArgs) {}

#endif

// ---- host -------------------------------------------------------------------

template <int kBlockM, typename Element, WeightLayout kLayout>
void launch(const ResidentArgs& r, cudaStream_t stream) {
  using Cfg = ConfigFor<kBlockM>;
  static_assert(Cfg::kStages * (Cfg::kStageA + Cfg::template stage_w<kLayout>()) * 2 <=
                    mlp_detail::kResidentSmemBytes,
                "the most steps a block holds fit its shared memory");
  auto* kernel = &mlp_resident_kernel<kBlockM, Element, kLayout>;
  if (r.k_tiles_per_split < 1 || r.k_tiles_per_split > Cfg::kStages || r.splits < 1 ||
      r.splits > mlp_detail::kResidentMaxSplits) {
    throw std::invalid_argument("mlp: resident GEMM planned with " + std::to_string(r.splits) + " splits of " +
                                std::to_string(r.k_tiles_per_split) + " steps");
  }
  // The operands' steps; split, at least the block's sums (which reuse them).
  const int operands = r.k_tiles_per_split * (Cfg::kStageA + Cfg::template stage_w<kLayout>()) * 2;
  const int smem = r.splits > 1 ? std::max(operands, kSlots<Cfg> * 16) : operands;
  // Per device and cheap; set on every call so a change of device is covered.
  MLOPT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        mlp_detail::kResidentSmemBytes));
  cluster_launch::launch_dependent(kernel, mlp_detail::resident_grid(r), kThreads, static_cast<std::size_t>(smem),
                                   static_cast<unsigned>(r.splits), stream, r);
}

template <typename Element, WeightLayout kLayout>
void run_resident_typed(const ResidentArgs& r, cudaStream_t stream) {
  if (r.epilogue.gated) throw std::invalid_argument("mlp: the resident GEMM takes plain projections");
  switch (r.block_m) {
    case 32: launch<32, Element, kLayout>(r, stream); break;
    case 64: launch<64, Element, kLayout>(r, stream); break;
    case 128: launch<128, Element, kLayout>(r, stream); break;
    default: throw std::invalid_argument("mlp: resident GEMM tiles of " + std::to_string(r.block_m) + " tokens");
  }
}

}  // namespace mlopt::kernels::mlp_resident
