#include "mlopt/kernels/cuda_event.h"

#include "mlopt/kernels/cuda_check.h"

namespace mlopt::kernels {

CudaEvent::CudaEvent() { MLOPT_CUDA_CHECK(cudaEventCreate(&event_)); }
CudaEvent::~CudaEvent() { cudaEventDestroy(event_); }  // destructors never throw
void CudaEvent::record(cudaStream_t stream) { MLOPT_CUDA_CHECK(cudaEventRecord(event_, stream)); }
void CudaEvent::synchronize() { MLOPT_CUDA_CHECK(cudaEventSynchronize(event_)); }

float elapsed_ms(const CudaEvent& begin, const CudaEvent& end) {
  float ms = 0;
  MLOPT_CUDA_CHECK(cudaEventElapsedTime(&ms, begin.get(), end.get()));
  return ms;
}

CudaStream::CudaStream() { MLOPT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
CudaStream::~CudaStream() { cudaStreamDestroy(stream_); }
void CudaStream::synchronize() { MLOPT_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

}  // namespace mlopt::kernels
