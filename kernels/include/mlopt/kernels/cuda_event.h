#pragma once
// RAII CUDA events and streams.
#include <cuda_runtime_api.h>

namespace mlopt::kernels {

class CudaEvent {
 public:
  CudaEvent();  // timing-enabled
  ~CudaEvent();
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;

  void record(cudaStream_t stream);
  void synchronize();
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

// Milliseconds between two recorded events (both must have completed).
float elapsed_ms(const CudaEvent& begin, const CudaEvent& end);

class CudaStream {
 public:
  CudaStream();  // non-blocking with respect to the legacy default stream
  ~CudaStream();
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;

  void synchronize();
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

}  // namespace mlopt::kernels
