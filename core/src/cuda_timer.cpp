// CUDA-event timing on libtorch's current stream (CUDA libtorch only).
#include <c10/cuda/CUDAStream.h>

#include "device_timer.h"
#include "mlopt/kernels/cuda_event.h"
#include "mlopt/kernels/device_query.h"

namespace mlopt {
namespace {

class CudaEventTimer final : public IterationTimer {
 public:
  explicit CudaEventTimer(int device) : device_(device) {}
  std::string name() const override { return "cuda-events"; }
  void start() override {
    stream_ = c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)).stream();
    begin_.record(stream_);
  }
  double stop_ms() override {
    end_.record(stream_);
    end_.synchronize();
    return kernels::elapsed_ms(begin_, end_);
  }

 private:
  int device_;
  cudaStream_t stream_ = nullptr;
  kernels::CudaEvent begin_, end_;
};

}  // namespace

std::unique_ptr<IterationTimer> make_cuda_timer(int device_index) {
  return std::make_unique<CudaEventTimer>(device_index);
}

std::string cuda_device_name(int device_index) { return kernels::device_properties(device_index).name; }

}  // namespace mlopt
