// mlopt's cluster GEMM (mlp_cluster.cuh) for fp16 weights in [out, in]
// layout: one instantiation per file so builds parallelise.
#include "mlp_cluster.cuh"

namespace mlopt::kernels::mlp_detail {

void run_cluster_fp16_out_in(const GemmArgs& up, const GemmArgs& down, cudaStream_t stream) {
  mlp_cluster::run_cluster_typed<__half, WeightLayout::kOutIn>(up, down, stream);
}

}  // namespace mlopt::kernels::mlp_detail
