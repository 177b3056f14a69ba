// Planning mlopt's cluster GEMM (mlp_cluster.cuh: how many blocks of a
// cluster split K) and dispatching it on dtype and weight layout.
#include <algorithm>
#include <cstdint>

#include "mlp_cluster.cuh"
#include "mlp_dispatch.h"

namespace mlopt::kernels::mlp_detail {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// About one block per SM: the blocks are short (a few K steps each), so
// what costs is each block's chain of loads, not the number of waves; two
// per SM would halve each block's K and double the sums the cluster adds.
template <class Cfg>
void plan_for(GemmArgs& g, int requested, int sm_count) {
  const int64_t k_tiles = ceil_div(g.k, Cfg::kBlockK);
  const int64_t tiles = g.epilogue.gated ? mlp_gemm::output_tiles<Cfg, true>(g) : mlp_gemm::output_tiles<Cfg, false>(g);
  const int64_t cap = std::min<int64_t>(kClusterMaxSplits, k_tiles);
  const int64_t splits =
      requested > 0 ? std::min<int64_t>(requested, cap) : std::clamp<int64_t>(ceil_div(std::max(sm_count, 1), tiles), 1, cap);
  g.k_tiles_per_split = static_cast<int>(ceil_div(k_tiles, splits));
  g.splits = static_cast<int>(ceil_div(k_tiles, g.k_tiles_per_split));  // no empty block
}

}  // namespace

void plan_cluster(GemmArgs& g, bool down, int requested, int sm_count) {
  down ? plan_for<mlp_cluster::DownConfig>(g, requested, sm_count)
       : plan_for<mlp_cluster::UpConfig>(g, requested, sm_count);
}

void run_cluster(const GemmArgs& up, const GemmArgs& down, WeightLayout layout, MlpDType dtype, cudaStream_t stream) {
  const bool out_in = layout == WeightLayout::kOutIn;
  if (dtype == MlpDType::kFloat16) {
    out_in ? run_cluster_fp16_out_in(up, down, stream) : run_cluster_fp16_in_out(up, down, stream);
  } else {
    out_in ? run_cluster_bf16_out_in(up, down, stream) : run_cluster_bf16_in_out(up, down, stream);
  }
}

}  // namespace mlopt::kernels::mlp_detail
