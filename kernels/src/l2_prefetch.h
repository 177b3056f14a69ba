#pragma once
// Pulls buffers into the GPU's L2 cache ahead of the kernels that read them.
//
// Why: a GEMM over few tokens reads its weights once, with too few thread
// blocks to keep enough loads in flight; it waits out DRAM round trips
// rather than DRAM bandwidth (GPT-2 small's MLP at 1 token: two cuBLAS
// kernels of about 5.5 us each for 9.4 MB of weights). One launch that
// asks for all of the weights at once, from every SM, lets DRAM stream them
// at full speed while the GEMMs start; their loads then hit L2 or a fill
// already in flight.
//
// The prefetches are hints: they do not change what any kernel computes,
// they never fault, and nothing waits for them (the kernel that issues
// them returns at once).
#include <cuda_runtime_api.h>

#include <cstddef>
#include <initializer_list>

namespace mlopt::kernels::detail {

struct L2Span {
  const void* ptr = nullptr;  // 16-byte aligned (null spans are skipped)
  std::size_t bytes = 0;      // bytes past the last multiple of 16 are not prefetched
};

// At most kMaxL2Spans spans per call (std::invalid_argument beyond).
constexpr int kMaxL2Spans = 4;

// One launch on `stream` over the spans (on compute capability 9.0+ as bulk
// prefetches, cp.async.bulk.prefetch.L2; before that one prefetch
// instruction per 128-byte line). Throws CudaError for launch failures.
void prefetch_to_l2(std::initializer_list<L2Span> spans, cudaStream_t stream);

}  // namespace mlopt::kernels::detail
