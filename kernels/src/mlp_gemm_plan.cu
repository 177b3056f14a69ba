// Planning mlopt's MLP GEMM (tile numbers, split-K) and dispatching it on
// dtype and weight layout; the reduction follows when K is split.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "mlp_dispatch.h"
#include "mlp_gemm.cuh"

namespace mlopt::kernels::mlp_detail {
namespace {

template <GemmTile kTile>
using Plain = typename mlp_gemm::ConfigFor<kTile, false>::type;
template <GemmTile kTile>
using Gated = typename mlp_gemm::ConfigFor<kTile, true>::type;

int blocks_per_sm(GemmTile tile, bool gated) {
  switch (tile) {
    case GemmTile::kLarge: return gated ? Gated<GemmTile::kLarge>::kMinBlocks : Plain<GemmTile::kLarge>::kMinBlocks;
    case GemmTile::kSmall16: return Plain<GemmTile::kSmall16>::kMinBlocks;
    case GemmTile::kSmall64: return Plain<GemmTile::kSmall64>::kMinBlocks;
  }
  return 1;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Output tiles (token tiles x feature tiles) of the GEMM's grid.
int64_t output_tile_count(const GemmArgs& g) {
  return ceil_div(g.m, gemm_tile_m(g.tile)) * ceil_div(g.n, gemm_tile_features(g.tile, g.epilogue.gated));
}

}  // namespace

int gemm_tile_k(GemmTile tile) {
  switch (tile) {
    case GemmTile::kLarge: return Plain<GemmTile::kLarge>::kBlockK;
    case GemmTile::kSmall16: return Plain<GemmTile::kSmall16>::kBlockK;
    case GemmTile::kSmall64: return Plain<GemmTile::kSmall64>::kBlockK;
  }
  throw std::invalid_argument("mlp: unknown GEMM tile");
}

int gemm_tile_m(GemmTile tile) {
  switch (tile) {
    case GemmTile::kLarge: return Plain<GemmTile::kLarge>::kBlockM;
    case GemmTile::kSmall16: return Plain<GemmTile::kSmall16>::kBlockM;
    case GemmTile::kSmall64: return Plain<GemmTile::kSmall64>::kBlockM;
  }
  throw std::invalid_argument("mlp: unknown GEMM tile");
}

int gemm_tile_features(GemmTile tile, bool gated) {
  switch (tile) {
    case GemmTile::kLarge: return gated ? Gated<GemmTile::kLarge>::kTileN / 2 : Plain<GemmTile::kLarge>::kTileN;
    case GemmTile::kSmall16: return Plain<GemmTile::kSmall16>::kTileN / (gated ? 2 : 1);
    case GemmTile::kSmall64: return Plain<GemmTile::kSmall64>::kTileN / (gated ? 2 : 1);
  }
  throw std::invalid_argument("mlp: unknown GEMM tile");
}

// Split-K. Each split is one more block per output tile; its partial sums
// cost 8 bytes per accumulator (fp32 written, then read by the reduction).
// A grid with at least one block per SM is not split: in the memory-bound
// decode case every SM already streams weights, and a compute-bound grid
// loses at most part of one wave. A smaller grid takes the split count that
// minimises an estimate of the time in K steps of one block, (waves of
// resident blocks) x (K steps per split), ties going to fewer splits.
// Limits: at least 2 (small tiles) or 4 (large) K steps per split, so the
// pipeline fills; partial sums at most a quarter of the weight bytes the
// GEMM streams (2 n_acc k bytes vs 8 splits m n_acc: splits <= k / 16m);
// the decode kernels' splits (cluster_splits) write no partial sums but are
// the blocks of one cluster, at most kMaxClusterSplits.
void plan_splits(GemmArgs& g, int requested, int sm_count) {
  const bool gated = g.epilogue.gated;
  const int64_t k_tiles = ceil_div(g.k, gemm_tile_k(g.tile));
  const int64_t tiles = output_tile_count(g);
  const int64_t cap = g.cluster_splits ? mlp_gemm::kMaxClusterSplits : 65535;
  int64_t splits = 1;
  if (requested > 0) {
    splits = std::min<int64_t>({requested, k_tiles, cap});
  } else if (tiles < std::max(sm_count, 1)) {
    const int64_t resident = int64_t{blocks_per_sm(g.tile, gated)} * std::max(sm_count, 1);
    const int64_t min_k_tiles = g.tile == GemmTile::kLarge ? 4 : 2;
    int64_t max_splits = std::min(cap, std::max<int64_t>(1, k_tiles / min_k_tiles));
    if (!g.cluster_splits) max_splits = std::min(max_splits, std::max<int64_t>(1, g.k / (16 * int64_t{g.m})));
    int64_t best = std::numeric_limits<int64_t>::max();
    for (int64_t s = 1; s <= max_splits; ++s) {
      const int64_t cost = ceil_div(tiles * s, resident) * ceil_div(k_tiles, s);
      if (cost < best) {
        best = cost;
        splits = s;
      }
    }
  }
  g.k_tiles_per_split = static_cast<int>(ceil_div(k_tiles, splits));
  g.splits = static_cast<int>(ceil_div(k_tiles, g.k_tiles_per_split));  // no empty split
}

std::size_t gemm_partials_bytes(const GemmArgs& g) {
  if (g.splits <= 1 || g.cluster_splits) return 0;
  const int64_t n_acc = g.epilogue.gated ? 2 * int64_t{g.n} : int64_t{g.n};
  return static_cast<std::size_t>(int64_t{g.splits} * g.m * n_acc * 4);
}

void plan_prefetch(GemmArgs& g, std::size_t budget_bytes) {
  const bool gated = g.epilogue.gated;
  const int64_t blocks = output_tile_count(g) * g.splits;
  // A block's weight tile is gemm_tile_features (x2 gated) features wide.
  const int64_t row_bytes = int64_t{gemm_tile_features(g.tile, gated)} * (gated ? 2 : 1) * 2;
  const int64_t split_k = int64_t{g.k_tiles_per_split} * gemm_tile_k(g.tile);
  const int64_t k = static_cast<int64_t>(budget_bytes) / std::max<int64_t>(1, blocks * row_bytes) / 8 * 8;
  g.prefetch_k = static_cast<int>(std::min(k, split_k));
}

void run_gemm(const GemmArgs& g, WeightLayout layout, MlpDType dtype, cudaStream_t stream) {
  if (g.splits > 1 && g.partials == nullptr) throw std::invalid_argument("mlp: split-K without partials buffer");
  const bool out_in = layout == WeightLayout::kOutIn;
  if (dtype == MlpDType::kFloat16) {
    out_in ? run_gemm_fp16_out_in(g, stream) : run_gemm_fp16_in_out(g, stream);
  } else {
    out_in ? run_gemm_bf16_out_in(g, stream) : run_gemm_bf16_in_out(g, stream);
  }
  if (g.splits > 1) reduce_splits(g.partials, g.splits, g.m, g.n, g.epilogue, dtype, stream);
}

void run_decode(const GemmArgs& up, const GemmArgs& down, WeightLayout layout, MlpDType dtype, cudaStream_t stream) {
  const bool out_in = layout == WeightLayout::kOutIn;
  if (dtype == MlpDType::kFloat16) {
    out_in ? run_decode_fp16_out_in(up, down, stream) : run_decode_fp16_in_out(up, down, stream);
  } else {
    out_in ? run_decode_bf16_out_in(up, down, stream) : run_decode_bf16_in_out(up, down, stream);
  }
}

}  // namespace mlopt::kernels::mlp_detail
