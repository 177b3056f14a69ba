// The Hopper up projection for bf16, both weight layouts (mlp_sm90_gemm.cuh);
// one dtype per file so builds parallelise. sm_90a only.
#include "mlp_sm90_gemm.cuh"

namespace mlopt::kernels::mlp_detail {

std::size_t sm90_up_workspace_bf16(const Sm90UpArgs& a) { return sm90::workspace_for<cutlass::bfloat16_t>(a); }

void run_sm90_up_bf16(const Sm90UpArgs& a, void* workspace, std::size_t workspace_bytes, cudaStream_t stream) {
  sm90::run_for<cutlass::bfloat16_t>(a, workspace, workspace_bytes, stream);
}

}  // namespace mlopt::kernels::mlp_detail
