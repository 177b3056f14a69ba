// Planning the resident GEMM (mlp_resident.cuh): tokens per tile, how many
// blocks of a cluster split K, and the grid; dispatch on dtype and layout.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>

#include "mlp_dispatch.h"

namespace mlopt::kernels::mlp_detail {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t k_steps(int k) { return ceil_div(k, kResidentStepK); }
// The fewest splits whose steps fit a block's shared memory.
int64_t fewest_splits(int k, int block_m) { return ceil_div(k_steps(k), resident_max_steps(block_m)); }

std::mutex forced_mutex;
ResidentForced forced_choices;

}  // namespace

bool resident_fits(int k, int block_m) { return k > 0 && fewest_splits(k, block_m) <= kResidentMaxSplits; }

// Splits. Every block of a split tile takes the same steps (shared memory
// is sized for them), so more splits mean fewer steps per block but more
// blocks per SM and a longer cluster sum. The choice minimises the steps
// one SM works through, (blocks per SM) x (steps per block), ties going to
// fewer splits: for GPT-2 small at 128 tokens on 132 SMs the down
// projection (12 tiles, 48 steps) takes 8 splits of 6 steps (96 blocks)
// and the up projection (48 tiles, 12 steps) 2 of 6 (96 blocks).
void plan_resident(ResidentArgs& r, int requested, int sm_count) {
  r.block_m = resident_block_m(r.m);
  if (!resident_fits(r.k, r.block_m)) {
    throw std::invalid_argument("mlp: the resident GEMM holds at most " +
                                std::to_string(kResidentMaxSplits * resident_max_steps(r.block_m) * kResidentStepK) +
                                " of K for " + std::to_string(r.block_m) + "-token tiles; this projection has K = " +
                                std::to_string(r.k));
  }
  const int64_t steps = k_steps(r.k);
  const int64_t fewest = fewest_splits(r.k, r.block_m);
  const int64_t most = std::min<int64_t>(kResidentMaxSplits, steps);
  const int64_t tiles = ceil_div(r.n, kResidentTileN) * ceil_div(r.m, r.block_m);
  int64_t splits = fewest;
  if (requested > 0) {
    splits = std::clamp<int64_t>(requested, fewest, most);
  } else {
    int64_t best = std::numeric_limits<int64_t>::max();
    for (int64_t s = fewest; s <= most; ++s) {
      const int64_t cost = ceil_div(tiles * s, std::max(sm_count, 1)) * ceil_div(steps, s);
      if (cost < best) {
        best = cost;
        splits = s;
      }
    }
  }
  r.k_tiles_per_split = static_cast<int>(ceil_div(steps, splits));
  r.splits = static_cast<int>(ceil_div(steps, r.k_tiles_per_split));  // no empty split
}

void resident_force(const ResidentForced& forced) {
  const std::lock_guard<std::mutex> lock(forced_mutex);
  forced_choices = forced;
}

ResidentForced resident_forced() {
  const std::lock_guard<std::mutex> lock(forced_mutex);
  return forced_choices;
}

dim3 resident_grid(const ResidentArgs& r) {
  const int64_t features = ceil_div(r.n, kResidentTileN);
  const int64_t token_tiles = ceil_div(r.m, r.block_m);
  if (features > INT_MAX || token_tiles > 65535) {
    throw std::invalid_argument("mlp: " + std::to_string(features) + " x " + std::to_string(token_tiles) +
                                " resident GEMM tiles exceed the grid limits");
  }
  return dim3(static_cast<unsigned>(features), static_cast<unsigned>(r.splits), static_cast<unsigned>(token_tiles));
}

void run_resident(const ResidentArgs& r, WeightLayout layout, MlpDType dtype, cudaStream_t stream) {
  const bool out_in = layout == WeightLayout::kOutIn;
  if (dtype == MlpDType::kFloat16) {
    out_in ? run_resident_fp16_out_in(r, stream) : run_resident_fp16_in_out(r, stream);
  } else {
    out_in ? run_resident_bf16_out_in(r, stream) : run_resident_bf16_in_out(r, stream);
  }
}

}  // namespace mlopt::kernels::mlp_detail
