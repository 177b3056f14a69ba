// The L2 prefetch launch (l2_prefetch.h says why).
#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "l2_prefetch.h"
#include "mlopt/kernels/cuda_check.h"

namespace mlopt::kernels::detail {
namespace {

// Bytes per prefetch request: small enough that a few megabytes of weights
// are spread over every SM (one bulk request is served by the issuing SM's
// copy engine), large enough that the requests are few.
constexpr std::uint64_t kChunkBytes = 2048;
constexpr int kThreads = 32;

struct Spans {
  const char* ptr[kMaxL2Spans];
  std::uint64_t bytes[kMaxL2Spans];
  std::uint64_t first_chunk[kMaxL2Spans + 1];  // span i's chunks are [first_chunk[i], first_chunk[i + 1])
  int count;
  std::uint64_t total_chunks;  // first_chunk[count], kept apart: see below
};

__global__ void prefetch_to_l2_kernel(Spans spans) {
  const std::uint64_t total = spans.total_chunks;
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t c = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; c < total; c += stride) {
    // The span holding chunk c, with constant indices only: a computed
    // index into the by-value parameter would copy it to local memory.
    const char* base = spans.ptr[0];
    std::uint64_t bytes = spans.bytes[0], first = 0;
#pragma unroll
    for (int i = 1; i < kMaxL2Spans; ++i) {
      if (i < spans.count && c >= spans.first_chunk[i]) {
        base = spans.ptr[i];
        bytes = spans.bytes[i];
        first = spans.first_chunk[i];
      }
    }
    const std::uint64_t offset = (c - first) * kChunkBytes;
    const std::uint64_t left = bytes - offset;
    const std::uint64_t size = left < kChunkBytes ? left : kChunkBytes;
    const char* p = base + offset;
#if __CUDA_ARCH__ >= 900
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p), "r"(static_cast<unsigned>(size)) : "memory");
#else
    for (std::uint64_t line = 0; line < size; line += 128) asm volatile("prefetch.global.L2 [%0];" ::"l"(p + line));
#endif
  }
}

}  // namespace

void prefetch_to_l2(std::initializer_list<L2Span> list, cudaStream_t stream) {
  if (list.size() > static_cast<std::size_t>(kMaxL2Spans)) {
    throw std::invalid_argument("prefetch_to_l2: at most " + std::to_string(kMaxL2Spans) + " spans, got " +
                                std::to_string(list.size()));
  }
  Spans spans{};
  spans.first_chunk[0] = 0;
  for (const L2Span& span : list) {
    const std::uint64_t bytes = span.bytes / 16 * 16;  // bulk sizes are multiples of 16
    if (span.ptr == nullptr || bytes == 0) continue;
    if (reinterpret_cast<std::uintptr_t>(span.ptr) % 16 != 0) {
      throw std::invalid_argument("prefetch_to_l2: spans must be 16-byte aligned");
    }
    const int i = spans.count++;
    spans.ptr[i] = static_cast<const char*>(span.ptr);
    spans.bytes[i] = bytes;
    spans.first_chunk[i + 1] = spans.first_chunk[i] + (bytes + kChunkBytes - 1) / kChunkBytes;
  }
  const std::uint64_t chunks = spans.total_chunks = spans.first_chunk[spans.count];
  if (chunks == 0) return;
  // One request per thread: a few MB of weights make a few thousand
  // requests, a grid of one-warp blocks spread over all SMs; more than
  // 1024 blocks' worth loop.
  const auto blocks = static_cast<unsigned>(std::min<std::uint64_t>((chunks + kThreads - 1) / kThreads, 1024));
  prefetch_to_l2_kernel<<<blocks, kThreads, 0, stream>>>(spans);
  MLOPT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace mlopt::kernels::detail
