#pragma once
// GPU timing for the benchmark programs: CUDA events around each iteration on
// one stream, an L2 flush before each, and the device's copy bandwidth.
// CUDA runtime only (no libtorch), so any benchmark can use it.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mlopt::bench {

// A device allocation owned for the scope (cudaMalloc / cudaFree).
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t bytes);  // throws kernels::CudaError
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return ptr_; }
  std::size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  std::size_t bytes_ = 0;
};

// Overwrites a buffer twice the size of the device's L2 so that every timed
// iteration starts with cold caches, as a real step does (its inputs were
// written long before). The memset also keeps the GPU busy while the host
// enqueues the next iteration, so host overhead does not enter the times.
class L2Flusher {
 public:
  explicit L2Flusher(int device);
  void flush(cudaStream_t stream);
  std::size_t bytes() const { return buffer_.bytes(); }

 private:
  DeviceBuffer buffer_;
};

struct TimingOptions {
  int warmup = 10;  // untimed calls first: lazy initialisation, autotuning, clocks
  int iters = 30;   // timed calls; report their median
};

// Calls `launch` (which enqueues work on `stream`) warmup + iters times and
// returns the milliseconds of each timed call, measured with a CUDA event
// pair around it. The timed calls are enqueued while the stream is held
// (a host function that waits for the host to finish enqueueing them, at
// most a second), so they run back to back on the GPU and time the GPU's
// work, never the host's: a call the host takes longer to enqueue than the
// GPU to run (eager libtorch ops on a small model) would otherwise time
// the host. `flusher` may be null (no L2 flush). Throws CudaError.
std::vector<double> time_on_stream(cudaStream_t stream, const std::function<void()>& launch,
                                   const TimingOptions& options, L2Flusher* flusher);

// How a benchmark program times its calls: on one stream, with the same
// warm-up and count, after an L2 flush unless flushing is off.
struct Bench {
  Bench(cudaStream_t stream_, TimingOptions timing_, int device, bool flush_l2)
      : stream(stream_), timing(timing_), flusher(flush_l2 ? std::make_unique<L2Flusher>(device) : nullptr) {}

  // time_on_stream with these settings.
  std::vector<double> time(const std::function<void()>& launch) const {
    return time_on_stream(stream, launch, timing, flusher.get());
  }

  cudaStream_t stream;
  TimingOptions timing;
  std::unique_ptr<L2Flusher> flusher;  // null: no flush
};

struct CopyBandwidth {
  std::size_t bytes = 0;  // size of the copied buffer
  std::vector<double> samples_ms;
  double median_ms = 0;
  double gbps = 0;  // 2 * bytes / median (each byte is read once and written once), 1e9 B/s
};

// Device-to-device cudaMemcpyAsync of a `bytes` buffer: what a memory-bound
// kernel can hope to reach. Halves the size (down to 64 MiB) when the device
// cannot hold two buffers of it. Throws CudaError.
CopyBandwidth measure_copy_bandwidth(cudaStream_t stream, std::size_t bytes, const TimingOptions& options);

// Keeps the GPU busy (memsets of a 256 MiB buffer) for `seconds` of wall
// time, so that timing starts at the clocks a loaded GPU runs at, not at
// idle clocks. Synchronises the stream.
void warm_up_gpu(cudaStream_t stream, double seconds);

// After an exception from GPU work: waits for the device, clears an error a
// later call would otherwise report, and returns the error's text when it is
// sticky (the CUDA context is unusable: every later call fails), else "".
std::string clear_cuda_error();

}  // namespace mlopt::bench
