// The resident GEMM (mlp_resident.cuh) for fp16 weights in [in, out]
// layout: one instantiation per file so builds parallelise.
#include "mlp_resident.cuh"

namespace mlopt::kernels::mlp_detail {

void run_resident_fp16_in_out(const ResidentArgs& r, cudaStream_t stream) {
  mlp_resident::run_resident_typed<__half, WeightLayout::kInOut>(r, stream);
}

}  // namespace mlopt::kernels::mlp_detail
