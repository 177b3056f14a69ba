// Planning the decode kernels (mlp_decode.cuh): how many blocks of a
// cluster split K, and the grid; dispatch on dtype and weight layout.
#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "mlp_dispatch.h"

namespace mlopt::kernels::mlp_detail {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t slabs(const DecodeArgs& d, WeightLayout layout) {
  return ceil_div(d.n, decode_slab_features(layout, d.epilogue.gated, d.narrow));
}
int64_t token_groups(const DecodeArgs& d) { return ceil_div(d.m, decode_token_group(d.m)); }

// The kernels run two blocks of kDecodeWarps warps per SM (their launch
// bounds): a grid of kBlocksPerSm blocks per SM keeps 16 warps per SM, each
// with 4 KiB of weights in flight per step (32 lanes x 8 loads of 16
// bytes), 64 KiB per SM: about 8 MiB over an H100, more than its bandwidth
// times its memory latency. Splitting K further costs each block a fixed
// part (the sum over its warps, the cluster barrier, the epilogue).
// Measured on an H100 (2026-12-06, bench/results/mlp-decode-splits-*):
// Llama-7B's up projection (1376 blocks unsplit, five waves) took 71 / 81 /
// 89 us over 1 / 2 / 4 blocks per slab; asking for 4 blocks per SM (which
// splits its down projection's 256 slabs over 4 blocks instead of 2) made
// the op slower at 16 tokens, 119 against 113 us, and no faster at 1.
constexpr int kBlocksPerSm = 2;

// A small MLP's down projection holds kDecodeHeldSteps steps of weights per
// warp in registers while it waits for the up projection, so that its
// blocks start beside the up projection's and have their weights when h is
// ready (GPT-2 small: 82 / 100 registers at 8 / 16 tokens per block in
// narrow slabs, beside the up projection's 92 / 126). Holding one step and
// asking L2 for the rest measured slower (H100, 2026-12-06, 10 rounds,
// mlp-decode-narrow-*): 15.5 / 15.7 / 17.9 us at 1 / 8 / 16 tokens
// against 14.9 / 15.1 / 16.0.
int held_steps_for(const DecodeArgs& d) { return d.hold_weights ? kDecodeHeldSteps : 1; }

// [in, out] weights in slabs of 128 features leave a narrow down
// projection few blocks: GPT-2 small's (768 features) 6 slabs x 8 K
// blocks, 48 SMs for all of its mmas, and at 16 tokens its held variant
// needs 184 registers, too many to start beside the up projection. Narrow
// slabs (64 features) double the blocks where even K split over a whole
// cluster leaves SMs idle. Measured (H100, 2026-12-06, mlp-decode-narrow-*):
// GPT-2 small at 16 tokens 16.0 us against 17.1 wide (its last down block
// ends at 12.3 us instead of 13.4), 1 and 8 tokens the same (14.8 / 15.2);
// GPT-2 large and XL at 1 / 8 tokens 0.6-1.0 us faster, at 16 the same;
// GPT-2 medium at 16 tokens 1 us slower (there the up projection's 256
// blocks fill every SM, and kAuto takes cuBLASLt).
// Narrow slabs exist for the down projection (weights_before_wait) of
// plain [in, out] weights only.
bool narrow_applies(const DecodeArgs& d, WeightLayout layout) {
  return layout == WeightLayout::kInOut && !d.epilogue.gated && d.weights_before_wait;
}
bool narrow_for(const DecodeArgs& d, WeightLayout layout, int sm_count) {
  const int64_t wide_slabs = ceil_div(d.n, decode_slab_features(layout, d.epilogue.gated, false));
  return narrow_applies(d, layout) && wide_slabs * token_groups(d) * kDecodeMaxClusterBlocks < sm_count;
}

// decode_force: 0 leaves the planner's choice; held steps; narrow 1 (wide)
// or 2 (narrow); the up projection's blocks along K.
std::atomic<int> forced_held_steps{0};
std::atomic<int> forced_narrow{0};
std::atomic<int> forced_up_k_blocks{0};

}  // namespace

void decode_force(const DecodeForced& forced) {
  if (forced.held_steps && *forced.held_steps != 1 && *forced.held_steps != kDecodeHeldSteps) {
    throw std::invalid_argument("mlp: the decode down projection holds 1 or " + std::to_string(kDecodeHeldSteps) +
                                " steps of weights, not " + std::to_string(*forced.held_steps));
  }
  if (forced.up_k_blocks && *forced.up_k_blocks < 1) {
    throw std::invalid_argument("mlp: the decode up projection's blocks along K must be positive, not " +
                                std::to_string(*forced.up_k_blocks));
  }
  forced_held_steps.store(forced.held_steps.value_or(0));
  forced_narrow.store(forced.narrow ? (*forced.narrow ? 2 : 1) : 0);
  forced_up_k_blocks.store(forced.up_k_blocks.value_or(0));
}

void plan_decode(DecodeArgs& d, WeightLayout layout, int requested, int sm_count) {
  const int narrow = forced_narrow.load();
  d.narrow = narrow > 0 && narrow_applies(d, layout) ? narrow == 2 : narrow_for(d, layout, sm_count);
  const int held = forced_held_steps.load();
  d.held_steps = d.hold_weights && held > 0 ? held : held_steps_for(d);
  const int up_k_blocks = forced_up_k_blocks.load();
  if (up_k_blocks > 0 && !d.weights_before_wait) requested = up_k_blocks;

  const int64_t steps = ceil_div(d.k, decode_step_k(layout));
  const int64_t cap = std::min<int64_t>(kDecodeMaxClusterBlocks, steps);
  int64_t blocks = 1;
  if (requested > 0) {
    blocks = std::min<int64_t>(requested, cap);
  } else {
    const int64_t grid = slabs(d, layout) * token_groups(d);
    const int64_t wanted = int64_t{kBlocksPerSm} * std::max(sm_count, 1);
    // Split K only while every warp of every block still gets a step.
    blocks = std::clamp<int64_t>(ceil_div(wanted, grid), 1, std::min(cap, std::max<int64_t>(1, steps / kDecodeWarps)));
  }
  d.steps_per_block = static_cast<int>(ceil_div(steps, blocks));
  d.k_blocks = static_cast<int>(ceil_div(steps, d.steps_per_block));  // no empty block
}

dim3 decode_grid(const DecodeArgs& d, WeightLayout layout) {
  const int64_t x = slabs(d, layout), z = token_groups(d);
  if (x > INT_MAX || z > 65535 || d.k_blocks < 1 || d.k_blocks > kDecodeMaxClusterBlocks) {
    throw std::invalid_argument("mlp: the decode grid " + std::to_string(x) + " x " + std::to_string(d.k_blocks) +
                                " x " + std::to_string(z) + " exceeds its limits (at most 65535 token groups of " +
                                std::to_string(decode_token_group(d.m)) + ")");
  }
  return dim3(static_cast<unsigned>(x), static_cast<unsigned>(d.k_blocks), static_cast<unsigned>(z));
}

void run_decode(const DecodeArgs& up, const DecodeArgs& down, WeightLayout layout, MlpDType dtype,
                cudaStream_t stream) {
  const bool out_in = layout == WeightLayout::kOutIn;
  if (dtype == MlpDType::kFloat16) {
    out_in ? run_decode_fp16_out_in(up, down, stream) : run_decode_fp16_in_out(up, down, stream);
  } else {
    out_in ? run_decode_bf16_out_in(up, down, stream) : run_decode_bf16_in_out(up, down, stream);
  }
}

}  // namespace mlopt::kernels::mlp_detail
