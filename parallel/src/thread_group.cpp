#include <cuda_runtime.h>

#include <atomic>
#include <barrier>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mlopt/kernels/cuda_check.h"
#include "mlopt/kernels/half_bits.h"
#include "mlopt/parallel/communicator.h"

namespace mlopt::parallel {

std::size_t element_bytes(ElementType type) { return type == ElementType::kFloat32 ? 4 : 2; }

const char* element_name(ElementType type) {
  switch (type) {
    case ElementType::kFloat32: return "fp32";
    case ElementType::kFloat16: return "fp16";
    case ElementType::kBFloat16: return "bf16";
  }
  return "?";
}

struct ThreadGroup::State {
  State(int n, BufferSpace s) : size(n), space(s), sync(n), published(static_cast<std::size_t>(n)) {}
  int size;
  BufferSpace space;
  std::barrier<> sync;
  std::vector<const void*> published;  // each rank's (host) buffer for the current collective
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr error;
};

namespace {

class FailedPeer : public std::runtime_error {
 public:
  FailedPeer() : std::runtime_error("another rank failed") {}
};

float load(const void* data, std::size_t i, ElementType type) {
  switch (type) {
    case ElementType::kFloat32: return static_cast<const float*>(data)[i];
    case ElementType::kFloat16: return kernels::half_bits_to_float(static_cast<const uint16_t*>(data)[i]);
    case ElementType::kBFloat16: return kernels::bf16_bits_to_float(static_cast<const uint16_t*>(data)[i]);
  }
  return 0.0f;
}

void store(void* data, std::size_t i, float value, ElementType type) {
  switch (type) {
    case ElementType::kFloat32: static_cast<float*>(data)[i] = value; break;
    case ElementType::kFloat16: static_cast<uint16_t*>(data)[i] = kernels::float_to_half_bits(value); break;
    case ElementType::kBFloat16: static_cast<uint16_t*>(data)[i] = kernels::float_to_bf16_bits(value); break;
  }
}

class ThreadCommunicator final : public Communicator {
 public:
  ThreadCommunicator(ThreadGroup::State& state, int rank) : s_(state), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return s_.size; }
  BufferSpace space() const override { return s_.space; }

  void ring_exchange(const void* send, void* recv, std::size_t bytes, void* stream) override {
    finish(stream);
    s_.published[rank_] = send;
    wait();
    const int from = (rank_ - 1 + s_.size) % s_.size;
    if (on_device()) {
      MLOPT_CUDA_CHECK(cudaMemcpy(recv, s_.published[from], bytes, cudaMemcpyDeviceToDevice));
      // A device-to-device cudaMemcpy may return before the copy lands: the
      // neighbour must not reuse its send buffer (nor this rank read recv) early.
      MLOPT_CUDA_CHECK(cudaDeviceSynchronize());
    } else {
      std::memcpy(recv, s_.published[from], bytes);
    }
    wait();  // nobody reuses its send buffer before its neighbour has copied it
  }

  void all_reduce_sum(void* data, std::size_t count, ElementType type, void* stream) override {
    std::vector<float> sum = reduce(data, count, type, stream);
    put(data, sum.data(), count, type);
  }

  void reduce_scatter_sum(const void* send, void* recv, std::size_t recv_count, ElementType type,
                          void* stream) override {
    std::vector<float> sum = reduce(send, recv_count * static_cast<std::size_t>(s_.size), type, stream);
    put(recv, sum.data() + recv_count * static_cast<std::size_t>(rank_), recv_count, type);
  }

  void all_gather(const void* send, void* recv, std::size_t send_count, ElementType type, void* stream) override {
    const std::size_t bytes = send_count * element_bytes(type);
    std::vector<unsigned char> mine = host_copy(send, bytes, stream);
    s_.published[rank_] = mine.data();
    wait();
    std::vector<unsigned char> all(bytes * static_cast<std::size_t>(s_.size));
    for (int r = 0; r < s_.size; ++r) std::memcpy(all.data() + bytes * r, s_.published[r], bytes);
    wait();  // every rank has read every buffer before any goes away
    copy_out(recv, all.data(), all.size());
  }

 private:
  bool on_device() const { return s_.space == BufferSpace::kDevice; }

  // Device buffers: the caller's pending work on `stream` must have written
  // them before another thread reads them.
  void finish(void* stream) {
    if (on_device()) MLOPT_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)));
  }

  std::vector<unsigned char> host_copy(const void* data, std::size_t bytes, void* stream) {
    finish(stream);
    std::vector<unsigned char> host(bytes);
    if (on_device()) {
      MLOPT_CUDA_CHECK(cudaMemcpy(host.data(), data, bytes, cudaMemcpyDeviceToHost));
    } else {
      std::memcpy(host.data(), data, bytes);
    }
    return host;
  }

  void copy_out(void* dst, const void* host, std::size_t bytes) {
    if (on_device()) {
      MLOPT_CUDA_CHECK(cudaMemcpy(dst, host, bytes, cudaMemcpyHostToDevice));
    } else {
      std::memcpy(dst, host, bytes);
    }
  }

  // The fp32 sum over ranks of every rank's `count` elements. Every rank adds
  // in rank order, so all get bit-identical sums.
  std::vector<float> reduce(const void* data, std::size_t count, ElementType type, void* stream) {
    std::vector<unsigned char> mine = host_copy(data, count * element_bytes(type), stream);
    s_.published[rank_] = mine.data();
    wait();
    std::vector<float> sum(count, 0.0f);
    for (int r = 0; r < s_.size; ++r) {
      for (std::size_t i = 0; i < count; ++i) sum[i] += load(s_.published[r], i, type);
    }
    wait();  // all have read every buffer before any goes away
    return sum;
  }

  void put(void* dst, const float* values, std::size_t count, ElementType type) {
    std::vector<unsigned char> host(count * element_bytes(type));
    for (std::size_t i = 0; i < count; ++i) store(host.data(), i, values[i], type);
    copy_out(dst, host.data(), host.size());
  }

  void wait() {
    s_.sync.arrive_and_wait();
    if (s_.failed.load()) throw FailedPeer();
  }
  ThreadGroup::State& s_;
  int rank_;
};

}  // namespace

ThreadGroup::ThreadGroup(int size, BufferSpace space) {
  if (size < 1) throw std::invalid_argument("a thread group needs at least 1 rank, got " + std::to_string(size));
  state_ = std::make_unique<State>(size, space);
}

ThreadGroup::~ThreadGroup() = default;

int ThreadGroup::size() const { return state_->size; }

void ThreadGroup::run(const std::function<void(Communicator&)>& fn) {
  State& s = *state_;
  s.failed = false;
  s.error = nullptr;
  // Simulated ranks share the caller's GPU; a new thread starts on device 0.
  int device = 0;
  if (s.space == BufferSpace::kDevice) MLOPT_CUDA_CHECK(cudaGetDevice(&device));
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(s.size));
  for (int r = 0; r < s.size; ++r) {
    threads.emplace_back([&s, &fn, r, device] {
      try {
        if (s.space == BufferSpace::kDevice) MLOPT_CUDA_CHECK(cudaSetDevice(device));
        ThreadCommunicator comm(s, r);
        fn(comm);
      } catch (const FailedPeer&) {
        // Released because another rank failed: its error is the one to report.
      } catch (...) {
        {
          std::lock_guard lock(s.error_mutex);
          if (!s.error) s.error = std::current_exception();
        }
        s.failed = true;
      }
      // Leaving the group: later phases no longer wait for this rank.
      s.sync.arrive_and_drop();
    });
  }
  for (auto& t : threads) t.join();
  // A fresh barrier for the next run (every rank dropped out of this one).
  const int n = s.size;
  const BufferSpace space = s.space;
  const auto error = s.error;
  state_ = std::make_unique<State>(n, space);
  if (error) std::rethrow_exception(error);
}

}  // namespace mlopt::parallel
