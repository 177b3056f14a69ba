// One instantiation per file so builds parallelise (CuTe translation units are slow).
#include "attention_fwd_sm90.cuh"

namespace mlopt::kernels::attention_fwd_sm90 {
template void launch_attention_fwd_sm90<128, cute::half_t>(const Sm90Args&, cudaStream_t);
}  // namespace mlopt::kernels::attention_fwd_sm90
