// One split-KV decode instantiation per file so builds parallelise.
#include "attention_decode.cuh"

namespace mlopt::kernels::attention_decode {
template DecodeOccupancy decode_occupancy<64, __half>();
template void launch_decode<64, __half>(const AttentionParams&, cudaStream_t, int, float*);
}  // namespace mlopt::kernels::attention_decode
