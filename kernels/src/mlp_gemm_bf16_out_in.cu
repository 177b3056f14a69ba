// mlopt's MLP GEMM and single-launch decode kernel for bf16 weights in
// the out_in layout (one instantiation per file so builds parallelise).
#include "mlp_gemm.cuh"

namespace mlopt::kernels::mlp_detail {

void run_gemm_bf16_out_in(const GemmArgs& g, cudaStream_t stream) {
  mlp_gemm::run_gemm_typed<__nv_bfloat16, WeightLayout::kOutIn>(g, stream);
}

void run_decode_bf16_out_in(const GemmArgs& up, const GemmArgs& down, cudaStream_t stream) {
  mlp_gemm::run_decode_typed<__nv_bfloat16, WeightLayout::kOutIn>(up, down, stream);
}

}  // namespace mlopt::kernels::mlp_detail
