// mlopt's MLP GEMM for bf16 weights in the out_in layout (one
// instantiation per file so builds parallelise).
#include "mlp_gemm.cuh"

namespace mlopt::kernels::mlp_detail {

void run_gemm_bf16_out_in(const GemmArgs& g, cudaStream_t stream) {
  mlp_gemm::run_gemm_typed<__nv_bfloat16, WeightLayout::kOutIn>(g, stream);
}

}  // namespace mlopt::kernels::mlp_detail
