// mlopt's cluster GEMM (mlp_cluster.cuh) for bf16 weights in [in, out]
// layout: one instantiation per file so builds parallelise.
#include "mlp_cluster.cuh"

namespace mlopt::kernels::mlp_detail {

void run_cluster_bf16_in_out(const GemmArgs& up, const GemmArgs& down, cudaStream_t stream) {
  mlp_cluster::run_cluster_typed<__nv_bfloat16, WeightLayout::kInOut>(up, down, stream);
}

}  // namespace mlopt::kernels::mlp_detail
