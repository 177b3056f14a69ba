// The Hopper up projection for fp16, both weight layouts (mlp_sm90_gemm.cuh);
// one dtype per file so builds parallelise. sm_90a only.
#include "mlp_sm90_gemm.cuh"

namespace mlopt::kernels::mlp_detail {

std::size_t sm90_up_workspace_fp16(const Sm90UpArgs& a) { return sm90::workspace_for<cutlass::half_t>(a); }

void run_sm90_up_fp16(const Sm90UpArgs& a, void* workspace, std::size_t workspace_bytes, cudaStream_t stream) {
  sm90::run_for<cutlass::half_t>(a, workspace, workspace_bytes, stream);
}

}  // namespace mlopt::kernels::mlp_detail
