// mlopt's decode kernels (mlp_decode.cuh) for bf16 weights in [in, out]
// layout: one instantiation per file so builds parallelise.
#include "mlp_decode.cuh"

namespace mlopt::kernels::mlp_detail {

void run_decode_bf16_in_out(const DecodeArgs& up, const DecodeArgs& down, cudaStream_t stream) {
  mlp_decode::run_decode_typed<__nv_bfloat16, WeightLayout::kInOut>(up, down, stream);
}

}  // namespace mlopt::kernels::mlp_detail
