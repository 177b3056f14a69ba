#include "bench_timing.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "mlopt/core/stats.h"
#include "mlopt/kernels/cuda_check.h"
#include "mlopt/kernels/cuda_event.h"
#include "mlopt/kernels/device_query.h"

namespace mlopt::bench {

DeviceBuffer::DeviceBuffer(std::size_t bytes) : bytes_(bytes) { MLOPT_CUDA_CHECK(cudaMalloc(&ptr_, bytes)); }
DeviceBuffer::~DeviceBuffer() { cudaFree(ptr_); }  // destructors never throw

namespace {

std::size_t flush_bytes(int device) {
  const auto l2 = static_cast<std::size_t>(kernels::device_properties(device).l2_cache_bytes);
  // Twice the L2 evicts everything whatever the replacement policy; a device
  // that reports no L2 size still gets a buffer larger than any L2 so far.
  return l2 > 0 ? 2 * l2 : std::size_t{256} << 20;
}

// Holds a stream until opened: everything enqueued behind it waits, so the
// host can enqueue a whole timed loop before the GPU starts on it. The
// host function gives up after a second, so a host that blocks while
// enqueueing (a full launch queue) delays the loop but never deadlocks it.
// The flag is shared with the host function, which may run after the gate
// is gone (an exception while enqueueing).
class StreamGate {
 public:
  explicit StreamGate(cudaStream_t stream) : open_(std::make_shared<std::atomic<bool>>(false)) {
    auto* held = new std::shared_ptr<std::atomic<bool>>(open_);
    const cudaError_t status = cudaLaunchHostFunc(stream, &StreamGate::hold, held);
    if (status != cudaSuccess) delete held;
    MLOPT_CUDA_CHECK(status);
  }
  ~StreamGate() { open(); }
  StreamGate(const StreamGate&) = delete;
  StreamGate& operator=(const StreamGate&) = delete;
  void open() { open_->store(true); }

 private:
  static void CUDART_CB hold(void* held) {
    const std::unique_ptr<std::shared_ptr<std::atomic<bool>>> flag(static_cast<std::shared_ptr<std::atomic<bool>>*>(held));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (!(*flag)->load() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  }
  std::shared_ptr<std::atomic<bool>> open_;
};

}  // namespace

L2Flusher::L2Flusher(int device) : buffer_(flush_bytes(device)) {}

void L2Flusher::flush(cudaStream_t stream) {
  MLOPT_CUDA_CHECK(cudaMemsetAsync(buffer_.get(), 0, buffer_.bytes(), stream));
}

std::vector<double> time_on_stream(cudaStream_t stream, const std::function<void()>& launch,
                                   const TimingOptions& options, L2Flusher* flusher) {
  for (int i = 0; i < options.warmup; ++i) {
    if (flusher) flusher->flush(stream);
    launch();
  }
  // One event pair per iteration, read after the last one, all enqueued
  // behind a gate: the GPU never idles waiting for the host to enqueue.
  const int n = std::max(options.iters, 1);
  std::vector<std::unique_ptr<kernels::CudaEvent>> begin, end;
  for (int i = 0; i < n; ++i) {
    begin.push_back(std::make_unique<kernels::CudaEvent>());
    end.push_back(std::make_unique<kernels::CudaEvent>());
  }
  StreamGate gate(stream);
  for (int i = 0; i < n; ++i) {
    if (flusher) flusher->flush(stream);
    begin[i]->record(stream);
    launch();
    end[i]->record(stream);
  }
  gate.open();
  end.back()->synchronize();
  std::vector<double> samples;
  samples.reserve(n);
  for (int i = 0; i < n; ++i) samples.push_back(kernels::elapsed_ms(*begin[i], *end[i]));
  return samples;
}

CopyBandwidth measure_copy_bandwidth(cudaStream_t stream, std::size_t bytes, const TimingOptions& options) {
  constexpr std::size_t kMinBytes = std::size_t{64} << 20;
  std::unique_ptr<DeviceBuffer> src, dst;
  for (;;) {
    try {
      src = std::make_unique<DeviceBuffer>(bytes);
      dst = std::make_unique<DeviceBuffer>(bytes);
      break;
    } catch (const kernels::CudaError& e) {
      src.reset();
      dst.reset();
      if (e.code() != cudaErrorMemoryAllocation || bytes / 2 < kMinBytes) throw;
      cudaGetLastError();  // an allocation failure is not sticky; clear it
      bytes /= 2;
    }
  }
  // Defined contents: the copy's speed does not depend on them, but reading
  // uninitialised memory is a finding in compute-sanitizer runs.
  MLOPT_CUDA_CHECK(cudaMemsetAsync(src->get(), 1, bytes, stream));
  CopyBandwidth result;
  result.bytes = bytes;
  // No L2 flush: a buffer this size streams through L2 anyway.
  result.samples_ms = time_on_stream(
      stream,
      [&] { MLOPT_CUDA_CHECK(cudaMemcpyAsync(dst->get(), src->get(), bytes, cudaMemcpyDeviceToDevice, stream)); },
      options, nullptr);
  result.median_ms = summarize(result.samples_ms).median_ms;
  result.gbps = 2.0 * static_cast<double>(bytes) / (result.median_ms * 1e-3) / 1e9;
  return result;
}

void warm_up_gpu(cudaStream_t stream, double seconds) {
  DeviceBuffer buffer(std::size_t{256} << 20);
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
    for (int i = 0; i < 16; ++i) MLOPT_CUDA_CHECK(cudaMemsetAsync(buffer.get(), i, buffer.bytes(), stream));
    MLOPT_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
}

std::string clear_cuda_error() {
  if (cudaDeviceSynchronize() == cudaSuccess) {
    cudaGetLastError();  // a launch-time error left by the failed call
    return "";
  }
  cudaGetLastError();
  const cudaError_t again = cudaDeviceSynchronize();
  return again == cudaSuccess ? "" : std::string(cudaGetErrorName(again)) + ": " + cudaGetErrorString(again);
}

}  // namespace mlopt::bench
