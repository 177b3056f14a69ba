// Per-thread side streams (side_stream.h says why).
#include "side_stream.h"

#include <map>

#include "mlopt/kernels/cuda_check.h"

namespace mlopt::kernels::detail {

const SideStream* side_stream_for(cudaStream_t caller) {
  thread_local std::map<int, SideStream> streams;  // by device
  int device = 0;
  MLOPT_CUDA_CHECK(cudaGetDevice(&device));
  const auto it = streams.find(device);
  if (it != streams.end()) return &it->second;
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  MLOPT_CUDA_CHECK(cudaStreamIsCapturing(caller, &capture));
  if (capture != cudaStreamCaptureStatusNone) return nullptr;
  int priority = 0;
  MLOPT_CUDA_CHECK(cudaStreamGetPriority(caller, &priority));
  SideStream side;
  MLOPT_CUDA_CHECK(cudaStreamCreateWithPriority(&side.stream, cudaStreamNonBlocking, priority));
  MLOPT_CUDA_CHECK(cudaEventCreateWithFlags(&side.fork, cudaEventDisableTiming));
  MLOPT_CUDA_CHECK(cudaEventCreateWithFlags(&side.join, cudaEventDisableTiming));
  return &streams.emplace(device, side).first->second;
}

void fork_side_stream(const SideStream& side, cudaStream_t caller) {
  MLOPT_CUDA_CHECK(cudaEventRecord(side.fork, caller));
  MLOPT_CUDA_CHECK(cudaStreamWaitEvent(side.stream, side.fork, 0));
}

void join_side_stream(const SideStream& side, cudaStream_t caller) {
  MLOPT_CUDA_CHECK(cudaEventRecord(side.join, side.stream));
  MLOPT_CUDA_CHECK(cudaStreamWaitEvent(caller, side.join, 0));
}

}  // namespace mlopt::kernels::detail
