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

template <bool kGated>
using Config = typename mlp_gemm::ConfigFor<kGated>::type;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

// Split-K. Each split is one more block per output tile; its partial sums
// cost 8 bytes per accumulator (fp32 written, then read by the reduction).
// A grid with at least one block per SM is not split: a compute-bound grid
// loses at most part of one wave. A smaller grid takes the split count that
// minimises an estimate of the time in K steps of one block, (waves of
// resident blocks) x (K steps per split), ties going to fewer splits.
// Limits: at least 4 K steps per split, so the pipeline fills; partial
// sums at most a quarter of the weight bytes the GEMM streams (2 n_acc k
// bytes vs 8 splits m n_acc: splits <= k / 16m).
void plan_splits(GemmArgs& g, int requested, int sm_count) {
  const bool gated = g.epilogue.gated;
  const int64_t k_tiles = ceil_div(g.k, gated ? Config<true>::kBlockK : Config<false>::kBlockK);
  const int64_t tiles =
      gated ? mlp_gemm::output_tiles<Config<true>, true>(g) : mlp_gemm::output_tiles<Config<false>, false>(g);
  int64_t splits = 1;
  if (requested > 0) {
    splits = std::min<int64_t>({requested, k_tiles, 65535});
  } else if (tiles < std::max(sm_count, 1)) {
    const int64_t resident =
        int64_t{gated ? Config<true>::kMinBlocks : Config<false>::kMinBlocks} * std::max(sm_count, 1);
    const int64_t max_splits =
        std::min(std::max<int64_t>(1, k_tiles / 4), std::max<int64_t>(1, g.k / (16 * int64_t{g.m})));
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
  if (g.splits <= 1) return 0;
  const int64_t n_acc = g.epilogue.gated ? 2 * int64_t{g.n} : int64_t{g.n};
  return static_cast<std::size_t>(int64_t{g.splits} * g.m * n_acc * 4);
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

}  // namespace mlopt::kernels::mlp_detail
