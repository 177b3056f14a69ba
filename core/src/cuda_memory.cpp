// Peak device memory of a run from the CUDA caching allocator's statistics
// (CUDA libtorch only).
#include <c10/cuda/CUDACachingAllocator.h>

#include "device_timer.h"

namespace mlopt {
namespace {

namespace allocator = c10::cuda::CUDACachingAllocator;

class CudaPeakMemory final : public PeakMemory {
 public:
  explicit CudaPeakMemory(int device) : device_(static_cast<c10::DeviceIndex>(device)) {}
  void begin() override { allocator::resetPeakStats(device_); }
  std::optional<int64_t> peak_bytes() override {
    const auto stats = allocator::getDeviceStats(device_);
    return stats.allocated_bytes[static_cast<std::size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
  }

 private:
  c10::DeviceIndex device_;
};

}  // namespace

std::unique_ptr<PeakMemory> make_cuda_peak_memory(int device_index) {
  return std::make_unique<CudaPeakMemory>(device_index);
}

}  // namespace mlopt
