// Device-side poisoning: one thread per 16 bytes, then a tail loop, so that
// a large output is poisoned at copy bandwidth.
#include "mlopt/kernels/cuda_check.h"
#include "mlopt/kernels/poison.h"

namespace mlopt::kernels {
namespace {

__global__ void poison_kernel(uint4* vectors, std::size_t vector_count, uint16_t* tail, std::size_t tail_words) {
  const uint32_t w = (uint32_t{kPoisonWord} << 16) | kPoisonWord;
  const uint4 pattern = make_uint4(w, w, w, w);
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < vector_count; i += stride) {
    vectors[i] = pattern;
  }
  if (blockIdx.x == 0 && threadIdx.x < tail_words) tail[threadIdx.x] = kPoisonWord;
}

}  // namespace

void poison_device(void* data, std::size_t bytes, cudaStream_t stream) {
  if (bytes % 2 != 0) throw CudaError(cudaErrorInvalidValue, "poison_device: byte count must be even");
  if (bytes == 0) return;
  if (reinterpret_cast<std::uintptr_t>(data) % 16 != 0) {
    throw CudaError(cudaErrorInvalidValue, "poison_device: the buffer must be 16-byte aligned");
  }
  const std::size_t vectors = bytes / 16;
  const std::size_t tail_words = (bytes % 16) / 2;
  constexpr int kThreads = 256;
  const std::size_t blocks_needed = (vectors + kThreads - 1) / kThreads;
  const unsigned blocks = static_cast<unsigned>(blocks_needed == 0 ? 1 : (blocks_needed > 65535 ? 65535 : blocks_needed));
  poison_kernel<<<blocks, kThreads, 0, stream>>>(static_cast<uint4*>(data), vectors,
                                                 reinterpret_cast<uint16_t*>(static_cast<char*>(data) + vectors * 16),
                                                 tail_words);
  MLOPT_CUDA_CHECK_LAUNCH();
}

}  // namespace mlopt::kernels
