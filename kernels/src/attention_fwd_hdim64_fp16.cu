// One instantiation per file so builds parallelise.
#include "attention_fwd.cuh"

namespace mlopt::kernels::attention_fwd {
template void launch_attention_fwd<64, __half>(const AttentionParams&, cudaStream_t);
}  // namespace mlopt::kernels::attention_fwd
