// mlopt's decode kernels (mlp_decode.cuh) for bf16 weights in [out, in]
// layout: one instantiation per file so builds parallelise.
#include "mlp_decode.cuh"

namespace mlopt::kernels::mlp_detail {

void run_decode_bf16_out_in(const DecodeArgs& up, const DecodeArgs& down, cudaStream_t stream) {
  mlp_decode::run_decode_typed<__nv_bfloat16, WeightLayout::kOutIn>(up, down, stream);
}

}  // namespace mlopt::kernels::mlp_detail
