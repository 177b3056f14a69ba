#pragma once
// A second CUDA stream for work that overlaps the caller's stream, with the
// events that fork it from and join it back into that stream.
//
// One per (host thread, device): a host thread's calls are ordered, so the
// fork and join events are never recorded by one call while another call
// still has to wait on them. Created on first use and kept for the thread's
// life (a stream destroyed while a CUDA graph captured from it is still
// being replayed would be an error, and the count is bounded by the threads
// that ask).
#include <cuda_runtime_api.h>

namespace mlopt::kernels::detail {

struct SideStream {
  cudaStream_t stream = nullptr;
  cudaEvent_t fork = nullptr;  // recorded on the caller's stream, waited for on `stream`
  cudaEvent_t join = nullptr;  // recorded on `stream`, waited for on the caller's stream
};

// This thread's side stream on the current device, created at the priority
// of the stream it is first asked for (later callers share it whatever
// their own stream's priority). Null when `caller` is being captured into a CUDA graph
// and none exists yet: creating one mid-capture is not allowed in every
// capture mode, so such a call runs its work on `caller` alone. Throws
// CudaError.
const SideStream* side_stream_for(cudaStream_t caller);

// The side stream's later work waits for everything enqueued on `caller`
// so far.
void fork_side_stream(const SideStream& side, cudaStream_t caller);

// `caller`'s later work waits for everything enqueued on the side stream
// so far.
void join_side_stream(const SideStream& side, cudaStream_t caller);

}  // namespace mlopt::kernels::detail
