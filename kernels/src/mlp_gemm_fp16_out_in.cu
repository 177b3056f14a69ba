// mlopt's MLP GEMM for fp16 weights in the out_in layout (one
// instantiation per file so builds parallelise).
#include "mlp_gemm.cuh"

namespace mlopt::kernels::mlp_detail {

void run_gemm_fp16_out_in(const GemmArgs& g, cudaStream_t stream) {
  mlp_gemm::run_gemm_typed<__half, WeightLayout::kOutIn>(g, stream);
}

}  // namespace mlopt::kernels::mlp_detail
