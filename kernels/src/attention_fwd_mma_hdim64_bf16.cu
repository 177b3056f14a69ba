// One instantiation per file so builds parallelise.
#include "attention_fwd_mma.cuh"

namespace mlopt::kernels::attention_fwd_mma {
template void launch_attention_fwd_mma<64, __nv_bfloat16>(const AttentionParams&, cudaStream_t);
}  // namespace mlopt::kernels::attention_fwd_mma
