// The resident GEMM (mlp_resident.cuh) for bf16 weights in [out, in]
// layout: one instantiation per file so builds parallelise.
#include "mlp_resident.cuh"

namespace mlopt::kernels::mlp_detail {

void run_resident_bf16_out_in(const ResidentArgs& r, cudaStream_t stream) {
  mlp_resident::run_resident_typed<__nv_bfloat16, WeightLayout::kOutIn>(r, stream);
}

}  // namespace mlopt::kernels::mlp_detail
