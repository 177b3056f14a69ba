#pragma once
// Poisoning output buffers before a kernel runs, so that tests catch any
// element the kernel failed to write: the pattern (all bits of each 16-bit
// word set to 0xFFFF, a NaN in fp16 and bf16, and -1/NaN in wider types)
// never arises from real arithmetic on finite inputs.
#include <cstddef>
#include <cstdint>

#ifdef MLOPT_KERNELS_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace mlopt::kernels {

inline constexpr uint16_t kPoisonWord = 0xFFFF;

// CPU reference: fills `bytes` (a multiple of 2) with kPoisonWord.
void poison_host(void* data, std::size_t bytes);
// Number of 16-bit words in a host buffer still equal to kPoisonWord.
std::size_t count_poisoned_host(const void* data, std::size_t bytes);

#ifdef MLOPT_KERNELS_HAVE_CUDA
// Device version on `stream`; throws CudaError for bad arguments or launch failures.
void poison_device(void* data, std::size_t bytes, cudaStream_t stream);
#endif

}  // namespace mlopt::kernels
