// The public MLP entry: validate, choose the implementation, carve the
// workspace, run the two projections on the stream.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "mlopt/kernels/cuda_check.h"
#include "mlopt/kernels/device_query.h"
#include "mlopt/kernels/mlp.h"
#include "mlp_dispatch.h"
#include "mlp_sm90.h"
#include "side_stream.h"

namespace mlopt::kernels {

namespace mlp_detail {
namespace {
// The process-wide forced kSm90 configuration (mlp_sm90.h); -1 = none.
std::atomic<int> forced_sm90_config{-1};
}  // namespace

void sm90_force_config(std::optional<Sm90GemmConfig> config) {
  forced_sm90_config.store(config ? static_cast<int>(*config) : -1);
}

std::optional<Sm90GemmConfig> sm90_forced_config() {
  const int c = forced_sm90_config.load();
  if (c < 0) return std::nullopt;
  return static_cast<Sm90GemmConfig>(c);
}

namespace {
// The current device's attribute (cheap: no device-properties query).
int current_device_attribute(cudaDeviceAttr attribute) {
  int device = 0, value = 0;
  MLOPT_CUDA_CHECK(cudaGetDevice(&device));
  MLOPT_CUDA_CHECK(cudaDeviceGetAttribute(&value, attribute, device));
  return value;
}
}  // namespace

int device_compute_capability() {
  if (device_count() == 0) return 0;
  return 10 * current_device_attribute(cudaDevAttrComputeCapabilityMajor) +
         current_device_attribute(cudaDevAttrComputeCapabilityMinor);
}
}  // namespace mlp_detail

namespace {

using mlp_detail::Epilogue;
using mlp_detail::DecodeArgs;
using mlp_detail::GemmArgs;

// kAuto's choice comes from bench_mlp's per-implementation times on an
// H100 (bench/results/mlp-h100-2026-11-25.json): the cuBLASLt path (GEMMs
// with bias / GELU epilogues, residual as beta * C, the gated product as one
// elementwise pass) was the fastest at every measured size of GPT-2 small
// and Llama-7B, 1 to 16384 tokens: 1.00-1.34x the unfused sequence, while
// mlopt's split-K decode GEMM only tied it at 1-16 tokens (both stream the
// weights once) and the mma.sync fused up projection ran at 0.35-0.65x
// from 128 tokens on. The decode path as one cooperative launch
// (bench/results/mlp-decode-h100-2026-11-25.json) is still behind at every
// size: GPT-2 small at 1 / 16 tokens 19.2 / 21.9 us against 17.0 / 19.8 us
// (its one kernel 16.3 / 17.9 us against cuBLASLt's 13-14 us of kernels),
// Llama-7B 125.8 / 132.5 us against 120.0 / 119.1 us; the next version,
// the small-tile GEMM with K split over thread-block clusters, was no
// better (mlp-decode-clusters-*-h100-2026-12-06.json). The current decode
// kernels (mlp_decode.cuh: weights streamed straight into mma registers)
// beat cuBLASLt at few tokens for small and for large MLPs (the bounds
// below say where and by how much), so auto takes them there and cuBLASLt
// everywhere else.
// For 16-512 tokens, both projections on mlopt's tiled GEMM with K split
// across a thread-block cluster (sums in distributed shared memory, the
// down projection a programmatic dependent launch) were slower than
// cuBLASLt at every measured size, GPT-2 small 38 / 56 us at 16 / 128
// tokens against 18 / 19 (H100, 2026-12-06, mlp-cluster-*; the code is in
// commit 5334759), so that path was removed. So was the next one, whose
// blocks requested their whole slice of K into shared memory at once (K
// split over a cluster, sums in distributed shared memory): level with
// cuBLASLt at 1 and 32 tokens of GPT-2 small, slower at 16 and from 64 on
// (26.0 against 18.8 us at 128; H100, 2026-12-06, mlp-resident-*; the code
// is in commit 3f1889c).
// kFused stays an explicit choice: kFused never stores the [tokens, 2 d_ff]
// gate/up projection (it keeps h, half of what the cuBLASLt path keeps for a
// gated MLP), for when memory, not time, is short.
//
// kSm90 (the up projection on a CUTLASS wgmma/TMA GEMM with the gated
// epilogue in registers, mlp_sm90.h) is not taken by auto: measured on an
// H100 (2026-11-25, bench_mlp) its first configuration (cooperative
// 128 x 256, cluster 2 x 1) was slower than this path at every size of GPT-2
// small and Llama-7B (0.48-0.99x). bench_mlp_sm90_tune times every
// configuration (mlp_sm90.h, Sm90GemmConfig) against cuBLASLt's GEMM; once a
// configuration wins, sm90_default_config's table and this rule move together.
// The gated cuBLASLt path stores [gate | up] for at most kDefaultRowBlock
// tokens at a time (MlpParams::row_block); up to one block's worth of
// tokens, h is made in place in it. Measured on an H100 (2026-11-25,
// bench_mlp --row-blocks, Llama-7B at 16k tokens, kernel times from
// --kernels): blocks of 4096 tokens cost nothing: the up GEMM ran 4 x 1003
// us (cuBLASLt picks 320x128 tiles) against 4.0-4.46 ms in one piece, the
// activation 4 x 90.5 us against 365-379 us, and the op's time was 6.44 /
// 6.45 ms against 6.47 / 6.61 ms unblocked in two runs; the stored
// projection shrinks from 688 to 172 MiB. Blocks of 1024 tokens
// are slower: cuBLASLt's 192x128-tile GEMM for 1024 rows leaves its last
// wave part empty (16 x 277 us = 4.44 ms).
constexpr int kDefaultRowBlock = 4096;

// The decode down projection's warps hold their first steps of weights in
// registers and ask L2 for the rest while they wait for the up projection
// (DecodeArgs::hold_weights) only when both weights fit this budget, a
// third of an H100's 50 MB L2, so the prefetched lines are not evicted
// before they are read. Measured on an
// H100 (2026-12-06) with the earlier decode kernels prefetching also for
// Llama-7B, whose 180 MB up projection streams through L2 meanwhile, the
// decode path took 133 us at 1 token against 122 us for cuBLASLt's GEMMs;
// so only MLPs whose weights fit the budget prefetch (GPT-2 small: 9.4 MB).
constexpr std::size_t kDecodePrefetchBytes = std::size_t{16} << 20;

// Both projections' weights, in bytes.
std::size_t weight_bytes(const MlpParams& p) {
  return static_cast<std::size_t>(mlp_up_features(p) + p.d_ff) * p.d_model * 2;
}

// kAuto takes the decode path, on a GPU that runs it, for at most
// kDecodeMaxTokens tokens of an MLP whose weights take at most
// kDecodeSmallMaxWeightBytes or at least kDecodeMinWeightBytes, and for at
// most kDecodeSmallTokens tokens of one up to kDecodeMediumMaxWeightBytes;
// cuBLASLt otherwise. Measured on an H100 (2026-12-06 09:27 UTC, bench_mlp,
// calls enqueued on a held stream, bench/results/mlp-decode-fragments-*-
// h100-2026-12-06.json), decode against cuBLASLt at 1 / 8 / 16 tokens:
//   GPT-2 small (9 MiB):          14.5 / 14.8 / 17.2 us against 16.7 / 16.8 / 18.4
//   GPT-2 medium (16 MiB):        19.6 / 20.3 / 21.2 us against 20.5 / 21.4 / 20.9
//   GPT-2 large (25 MiB):         25.8 / 26.4 / 28.9 us against 24.8 / 25.5 / 24.9
//   GPT-2 XL (39 MiB):            32.9 / 33.7 / 35.6 us against 31.9 / 32.6 / 32.2
//   Qwen2.5 1.5B (78.75 MiB):     38.5 / 40.2 / 46.8 us against 54.7 / 55.0 / 54.9
//   Llama 3.2 1B (96 MiB):        47.7 / 49.9 / 50.7 us against 59.5 / 59.3 / 59.5
//   Llama-7B (258 MiB):          108.3 / 110.7 / 113.8 us against 121.9 / 122.4 / 120.7
// so every bound sits on a measured size. The GPT-2 sizes are Conv1D
// ([in, out]) weights without gating, the others gated nn.Linear ones;
// between 39 and 78.75 MiB nothing was measured. From 64 tokens on the
// decode kernels re-read the weights per group of 16 tokens and are 2-15x
// slower.
constexpr int kDecodeSmallTokens = 8;
constexpr int kDecodeMaxTokens = 16;
constexpr std::size_t kDecodeSmallMaxWeightBytes = std::size_t{9} << 20;
constexpr std::size_t kDecodeMediumMaxWeightBytes = std::size_t{16} << 20;
constexpr std::size_t kDecodeMinWeightBytes = std::size_t{78} << 20;

// The gated kCublasLt path's row blocks: `count` blocks of `rows` tokens
// (the last may be shorter).
struct RowBlocks {
  int rows = 0, count = 0;
  // Block b's first token, and its token count out of `tokens` (the last
  // block may be shorter).
  int64_t first(int b) const { return int64_t{b} * rows; }
  int rows_of(int b, int tokens) const { return static_cast<int>(std::min<int64_t>(rows, tokens - first(b))); }
};
RowBlocks row_blocks(const MlpParams& p) {
  const int limit = p.row_block > 0 ? p.row_block : kDefaultRowBlock;
  RowBlocks b;
  b.count = (p.tokens + limit - 1) / limit;
  b.rows = (p.tokens + b.count - 1) / b.count;
  return b;
}

// Whether RowBlockOverlap::kAuto runs the row blocks on two streams. The
// aim was Llama-7B at 16k tokens, where the GEMMs alone take 6.0 of the 6.37
// ms that the op's kernels take one after the other (the activation passes
// 4 x 90 us), by hiding the passes behind the other block's GEMMs. Measured
// on an H100 (2026-12-06, bench_mlp --overlap, two runs,
// bench/results/mlp-overlap-16k-h100-2026-12-06.json and
// mlp-prefetch-overlap-h100-2026-12-06.json): 6.47 / 6.77 ms on two streams
// against 6.44 / 6.71 ms for the one-stream path timed before it and 6.81 /
// 7.14 ms timed after it, i.e. within the GPU's drift over a run (its
// clocks move the same configuration by 5%); no gain shown, so kAuto keeps
// one stream. It stores less (344 instead of 516 MiB at 16k tokens: no
// separate h), which kOn offers.
constexpr bool kAutoOverlap = false;

constexpr std::size_t kAlign = 256;
std::size_t aligned(std::size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

int sm_count() { return mlp_detail::current_device_attribute(cudaDevAttrMultiProcessorCount); }

// Forced kSm90 on params or a device it cannot run is the caller's error.
MlpImpl choose(const MlpParams& p) {
  if (p.impl == MlpImpl::kSm90) {
    if (const char* why = mlp_detail::sm90_params_unsupported(p)) {
      throw std::invalid_argument(std::string("mlp: impl sm90 cannot run this call: ") + why);
    }
    if (!mlp_detail::sm90_device()) {
      throw std::invalid_argument("mlp: impl sm90 needs a GPU of compute capability 9.0 (H100/H200)");
    }
    return MlpImpl::kSm90;
  }
  if (p.impl == MlpImpl::kDecode) {
    const int capability = mlp_detail::device_compute_capability();  // 0: no device, nothing runs anyway
    if (capability != 0 && capability < mlp_detail::kDecodeMinCapability) {
      throw std::invalid_argument("mlp: impl decode needs a GPU of compute capability 9.0 or newer (this one is " +
                                  std::to_string(capability / 10) + "." + std::to_string(capability % 10) +
                                  "): thread-block clusters and programmatic dependent launch");
    }
  }
  if (p.impl != MlpImpl::kAuto) return p.impl;
  const std::size_t bytes = weight_bytes(p);
  const bool decode_wins =
      (p.tokens <= kDecodeMaxTokens && (bytes <= kDecodeSmallMaxWeightBytes || bytes >= kDecodeMinWeightBytes)) ||
      (p.tokens <= kDecodeSmallTokens && bytes <= kDecodeMediumMaxWeightBytes);
  if (decode_wins && mlp_detail::decode_device()) return MlpImpl::kDecode;
  return MlpImpl::kCublasLt;
}

// Everything one call does, with the workspace as offsets.
struct Plan {
  MlpImpl impl = MlpImpl::kAuto;
  GemmArgs up;                          // kFused: the up projection on mlopt's GEMM
  DecodeArgs decode_up, decode_down;    // kDecode: both projections
  std::size_t h_offset = 0, scratch_offset = 0, lt_offset = 0, total = 0;
  bool uses_lt = false;
  // kCublasLt: the up projection's row blocks (gated: row_blocks(); plain:
  // one block of all tokens, straight into h).
  RowBlocks up_blocks;
  // kCublasLt, gated, one row block: h is made in place in the stored
  // projection (row stride 2 d_ff), so the workspace holds no separate h.
  bool h_in_scratch = false;
  // kCublasLt, gated, several row blocks on two streams (RowBlockOverlap):
  // each block's h is made in place and projected down at once; scratch
  // holds two blocks and the cuBLASLt workspace two workspaces, one of each
  // per stream, `scratch_stride` bytes apart.
  bool overlap = false;
  std::size_t scratch_stride = 0;
};

Epilogue up_epilogue(const MlpParams& p, void* h) {
  Epilogue e;
  e.activation = p.activation;
  e.gated = p.gated;
  e.packing = p.gate_up;
  e.bias = p.b_up;
  e.out = h;
  return e;
}

Epilogue down_epilogue(const MlpParams& p) {
  Epilogue e;
  e.bias = p.b_down;
  e.residual = p.residual;
  e.out = p.out;
  return e;
}

// The up projection's cuBLASLt matmul for `rows` tokens from `first` on,
// into `d`, no activation (callers fuse one where cuBLASLt can).
mlp_detail::LtMatmul up_matmul(const MlpParams& p, int64_t first, int rows, void* d) {
  mlp_detail::LtMatmul up;
  up.a = static_cast<const unsigned char*>(p.x) + first * p.d_model * 2;
  up.w = p.w_up;
  up.bias = p.b_up;
  up.m = rows;
  up.n = static_cast<int>(mlp_up_features(p));
  up.k = p.d_model;
  up.d = d;
  return up;
}

// The down projection's cuBLASLt matmul of `rows` tokens from `first` on,
// reading h at `h` with row stride `ldh` (0: d_ff); bias and residual in its
// epilogue.
mlp_detail::LtMatmul down_matmul(const MlpParams& p, int64_t first, int rows, const void* h, int64_t ldh) {
  const int64_t offset = first * p.d_model * 2;
  mlp_detail::LtMatmul down;
  down.a = h;
  down.lda = ldh;
  down.w = p.w_down;
  down.bias = p.b_down;
  down.c = p.residual ? static_cast<const unsigned char*>(p.residual) + offset : nullptr;
  down.d = static_cast<unsigned char*>(p.out) + offset;
  down.m = rows;
  down.n = p.d_model;
  down.k = p.d_ff;
  return down;
}

// x [tokens, d_model] -> the up projection's d_ff features (gated: 2 d_ff
// packed), on mlopt's GEMM or decode kernels; h, its output, is set once
// the workspace is carved.
void set_up_projection(mlp_detail::Projection& up, const MlpParams& p) {
  up.a = p.x;
  up.w = p.w_up;
  up.m = p.tokens;
  up.n = p.d_ff;
  up.k = p.d_model;
  up.epilogue = up_epilogue(p, nullptr);
}

Plan make_plan(const MlpParams& p) {
  Plan plan;
  plan.impl = choose(p);
  if (plan.impl == MlpImpl::kCublasLt) plan.up_blocks = p.gated ? row_blocks(p) : RowBlocks{p.tokens, 1};
  plan.overlap = plan.impl == MlpImpl::kCublasLt && p.gated && plan.up_blocks.count > 1 &&
                 (p.overlap == RowBlockOverlap::kOn || (p.overlap == RowBlockOverlap::kAuto && kAutoOverlap));
  plan.h_in_scratch = plan.impl == MlpImpl::kCublasLt && p.gated && (plan.up_blocks.count == 1 || plan.overlap);
  const std::size_t h_bytes =
      plan.h_in_scratch ? 0 : aligned(static_cast<std::size_t>(int64_t{p.tokens} * p.d_ff * 2));
  std::size_t scratch = 0;
  const int sms = plan.impl == MlpImpl::kDecode || plan.impl == MlpImpl::kFused ? sm_count() : 0;

  if (plan.impl == MlpImpl::kFused) {
    GemmArgs& up = plan.up;
    set_up_projection(up, p);
    mlp_detail::plan_splits(up, p.num_splits, sms);
    scratch = mlp_detail::gemm_partials_bytes(up);
  }
  if (plan.impl == MlpImpl::kDecode) {
    DecodeArgs& up = plan.decode_up;
    set_up_projection(up, p);
    mlp_detail::plan_decode(up, p.layout, p.num_splits, sms);
    DecodeArgs& down = plan.decode_down;
    down.w = p.w_down;
    down.m = p.tokens;
    down.n = p.d_model;
    down.k = p.d_ff;
    down.epilogue = down_epilogue(p);
    down.weights_before_wait = true;
    // Only where both weights fit the budget: otherwise the up projection's
    // stream of weights through L2 evicts the prefetched lines before they
    // are read.
    down.hold_weights = weight_bytes(p) <= kDecodePrefetchBytes;
    mlp_detail::plan_decode(down, p.layout, p.num_splits, sms);
  } else {
    plan.uses_lt = true;  // the down projection
  }
  if (plan.impl == MlpImpl::kCublasLt && p.gated) {
    scratch = static_cast<std::size_t>(int64_t{plan.up_blocks.rows} * 2 * p.d_ff * 2);  // one block's [gate | up]
    if (plan.overlap) {
      plan.scratch_stride = aligned(scratch);
      scratch = 2 * plan.scratch_stride;
    }
  }
#ifdef MLOPT_KERNELS_HAVE_SM90
  if (plan.impl == MlpImpl::kSm90) {
    scratch = mlp_detail::sm90_up_workspace(mlp_detail::sm90_up_args(p, nullptr), p.dtype);  // its tile scheduler's
  }
#endif
  plan.h_offset = 0;
  plan.scratch_offset = h_bytes;
  plan.lt_offset = plan.scratch_offset + aligned(scratch);
  const int lt_workspaces = plan.uses_lt ? (plan.overlap ? 2 : 1) : 0;
  plan.total = plan.lt_offset + lt_workspaces * mlp_detail::kCublasLtWorkspaceBytes;
  return plan;
}

// The gated kCublasLt path's row blocks on two streams (Plan::overlap):
// block b on the caller's stream (b even) or the side stream (b odd), each
// stream with its own stored block and cuBLASLt workspace; per block the up
// GEMM, h made in place, and the down GEMM of its rows (which touches no
// other block's rows of out or residual).
void run_overlapped_row_blocks(const MlpParams& p, const Plan& plan, unsigned char* workspace, cudaStream_t stream) {
  const detail::SideStream* side = detail::side_stream_for(stream);
  const cudaStream_t streams[2] = {stream, side ? side->stream : stream};
  if (side) detail::fork_side_stream(*side, stream);
  try {
    const RowBlocks& blocks = plan.up_blocks;
    for (int b = 0; b < blocks.count; ++b) {
      const int s = b % 2;
      const cudaStream_t on = streams[s];
      void* scratch = workspace + plan.scratch_offset + s * plan.scratch_stride;
      void* lt = workspace + plan.lt_offset + s * mlp_detail::kCublasLtWorkspaceBytes;
      const int64_t first = blocks.first(b);
      const int rows = blocks.rows_of(b, p.tokens);
      mlp_detail::cublaslt_matmul(up_matmul(p, first, rows, scratch), p.layout, p.dtype, on, lt,
                                  mlp_detail::kCublasLtWorkspaceBytes);
      mlp_detail::apply_activation_in_place(scratch, rows, p.d_ff, up_epilogue(p, nullptr), p.dtype, on);
      mlp_detail::cublaslt_matmul(down_matmul(p, first, rows, scratch, 2 * int64_t{p.d_ff}), p.layout, p.dtype, on,
                                  lt, mlp_detail::kCublasLtWorkspaceBytes);
    }
  } catch (...) {
    // The caller's stream must not run ahead of work left on the side
    // stream, whatever failed; the first error is the one reported.
    if (side) {
      cudaEventRecord(side->join, side->stream);
      cudaStreamWaitEvent(stream, side->join, 0);
    }
    throw;
  }
  if (side) detail::join_side_stream(*side, stream);
}

void check_aligned(const char* name, const void* pointer, std::uintptr_t alignment = 16) {
  if (reinterpret_cast<std::uintptr_t>(pointer) % alignment != 0) {
    throw std::invalid_argument(std::string("mlp: ") + name + " must be " + std::to_string(alignment) +
                                "-byte aligned");
  }
}

}  // namespace

int mlp_default_row_block() { return kDefaultRowBlock; }

MlpImpl mlp_chosen_impl(const MlpParams& params) {
  validate(params);
  return choose(params);
}

std::size_t mlp_workspace_bytes(const MlpParams& params) {
  validate(params);
  return make_plan(params).total;
}

MlpWorkspaceSizes mlp_workspace_sizes(const MlpParams& params) {
  validate(params);
  const Plan plan = make_plan(params);
  MlpWorkspaceSizes sizes;
  sizes.h = plan.scratch_offset - plan.h_offset;
  sizes.scratch = plan.lt_offset - plan.scratch_offset;
  sizes.cublaslt = plan.total - plan.lt_offset;
  sizes.total = plan.total;
  return sizes;
}

void mlp_forward(const MlpParams& p, cudaStream_t stream, void* workspace, std::size_t workspace_bytes) {
  validate(p);
  check_aligned("x", p.x);
  check_aligned("w_up", p.w_up);
  check_aligned("b_up", p.b_up);
  check_aligned("w_down", p.w_down);
  check_aligned("b_down", p.b_down);
  check_aligned("residual", p.residual);
  check_aligned("out", p.out);
  check_aligned("workspace", workspace, kAlign);  // its parts start at multiples of 256 bytes (cuBLASLt's too)
  Plan plan = make_plan(p);
  if (workspace == nullptr || workspace_bytes < plan.total) {
    throw std::invalid_argument("mlp: the workspace has " + std::to_string(workspace == nullptr ? 0 : workspace_bytes) +
                                " bytes, this call needs " + std::to_string(plan.total) +
                                " (mlp_workspace_bytes)");
  }
  auto* base = static_cast<unsigned char*>(workspace);
  void* h = base + plan.h_offset;
  void* scratch = base + plan.scratch_offset;
  void* lt_workspace = base + plan.lt_offset;
  const std::size_t lt_bytes = workspace_bytes - plan.lt_offset;
  if (plan.overlap) {
    run_overlapped_row_blocks(p, plan, base, stream);
    return;
  }

  // Up projection -> h [tokens, d_ff].
  if (plan.impl == MlpImpl::kCublasLt) {
    const bool fused_activation = !p.gated && mlp_detail::cublaslt_fuses(p.activation);
    // Gated: [gate | up] of one row block at a time into the one scratch
    // block, activated into its rows of h; with one block, h is made in
    // place there (h and scratch are then the same address: h takes no
    // bytes). Plain: one pass, all rows.
    const RowBlocks& blocks = plan.up_blocks;
    for (int b = 0; b < blocks.count; ++b) {
      const int64_t first = blocks.first(b);
      const int rows = blocks.rows_of(b, p.tokens);
      auto* h_rows = static_cast<unsigned char*>(h) + first * p.d_ff * 2;
      mlp_detail::LtMatmul up = up_matmul(p, first, rows, p.gated ? scratch : h_rows);
      up.activation = fused_activation ? p.activation : Activation::kNone;
      mlp_detail::cublaslt_matmul(up, p.layout, p.dtype, stream, lt_workspace, lt_bytes);
      if (plan.h_in_scratch) {
        mlp_detail::apply_activation_in_place(scratch, rows, p.d_ff, up_epilogue(p, nullptr), p.dtype, stream);
      } else if (!fused_activation) {
        mlp_detail::apply_activation(up.d, rows, p.d_ff, up_epilogue(p, h_rows), p.dtype, stream);
      }
    }
  } else if (plan.impl == MlpImpl::kSm90) {
#ifdef MLOPT_KERNELS_HAVE_SM90
    mlp_detail::run_sm90_up(mlp_detail::sm90_up_args(p, h), p.dtype, scratch, plan.lt_offset - plan.scratch_offset,
                            stream);
#else
    throw std::logic_error("mlp: kSm90 chosen in a build without it");  // choose() never picks it then
#endif
  } else {
    if (plan.impl == MlpImpl::kDecode) {
      plan.decode_up.epilogue.out = h;
      plan.decode_down.a = h;
      mlp_detail::run_decode(plan.decode_up, plan.decode_down, p.layout, p.dtype, stream);
      return;
    }
    plan.up.epilogue.out = h;
    plan.up.partials = static_cast<float*>(scratch);
    mlp_detail::run_gemm(plan.up, p.layout, p.dtype, stream);
  }

  // Down projection on cuBLASLt -> out [tokens, d_model], bias and residual in its epilogue.
  const auto down = down_matmul(p, 0, p.tokens, h, plan.h_in_scratch ? 2 * int64_t{p.d_ff} : 0);
  mlp_detail::cublaslt_matmul(down, p.layout, p.dtype, stream, lt_workspace, lt_bytes);
}

}  // namespace mlopt::kernels
