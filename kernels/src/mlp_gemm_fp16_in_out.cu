// mlopt's MLP GEMM for fp16 weights in the in_out layout (one
// instantiation per file so builds parallelise).
#include "mlp_gemm.cuh"

namespace mlopt::kernels::mlp_detail {

void run_gemm_fp16_in_out(const GemmArgs& g, cudaStream_t stream) {
  mlp_gemm::run_gemm_typed<__half, WeightLayout::kInOut>(g, stream);
}

}  // namespace mlopt::kernels::mlp_detail
