// mlopt's MLP GEMM and single-launch decode kernel for fp16 weights in
// the out_in layout (one instantiation per file so builds parallelise).
#include "mlp_gemm.cuh"

namespace mlopt::kernels::mlp_detail {

void run_gemm_fp16_out_in(const GemmArgs& g, cudaStream_t stream) {
  mlp_gemm::run_gemm_typed<__half, WeightLayout::kOutIn>(g, stream);
}

void run_decode_fp16_out_in(const GemmArgs& up, const GemmArgs& down, cudaStream_t stream) {
  mlp_gemm::run_decode_typed<__half, WeightLayout::kOutIn>(up, down, stream);
}

}  // namespace mlopt::kernels::mlp_detail
