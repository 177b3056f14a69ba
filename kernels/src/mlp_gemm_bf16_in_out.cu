// mlopt's MLP GEMM for bf16 weights in the in_out layout (one
// instantiation per file so builds parallelise).
#include "mlp_gemm.cuh"

namespace mlopt::kernels::mlp_detail {

void run_gemm_bf16_in_out(const GemmArgs& g, cudaStream_t stream) {
  mlp_gemm::run_gemm_typed<__nv_bfloat16, WeightLayout::kInOut>(g, stream);
}

}  // namespace mlopt::kernels::mlp_detail
