#pragma once
// The collectives mlopt's parallel algorithms use, behind one interface so
// the same algorithm runs over threads of one process (tests, CPU, ranks
// simulated on one GPU) and, on GPUs, over NCCL.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>

namespace mlopt::parallel {

// The element types collectives reduce (sums run in fp32 for fp16/bf16 on the
// thread backend; NCCL reduces in the element type).
enum class ElementType { kFloat32, kFloat16, kBFloat16 };
std::size_t element_bytes(ElementType type);
const char* element_name(ElementType type);

// Where a communicator's buffers live: host memory, or the rank's GPU.
enum class BufferSpace { kHost, kDevice };

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual BufferSpace space() const = 0;

  // Every operation takes `stream`, the cudaStream_t it is ordered on, for
  // device buffers; host-buffer backends ignore it and have completed when
  // they return. A device backend enqueues and returns: the result is ready
  // when `stream` reaches it. Every rank must call the same operations in the
  // same order with the same counts.

  // Sends `bytes` from `send` to rank + 1 and receives as many from rank - 1
  // (mod size) into `recv`: one step of a ring. `send` and `recv` must not
  // overlap.
  virtual void ring_exchange(const void* send, void* recv, std::size_t bytes, void* stream = nullptr) = 0;
  // Element-wise sum over every rank's `data` (`count` elements), left in
  // each rank's `data`.
  virtual void all_reduce_sum(void* data, std::size_t count, ElementType type, void* stream = nullptr) = 0;
  // Element-wise sum of every rank's `send` (size() * recv_count elements);
  // rank r receives block r of the sum (recv_count elements) in `recv`.
  virtual void reduce_scatter_sum(const void* send, void* recv, std::size_t recv_count, ElementType type,
                                  void* stream = nullptr) = 0;
  // Concatenates every rank's `send` (send_count elements) in rank order into
  // each rank's `recv` (size() * send_count elements).
  virtual void all_gather(const void* send, void* recv, std::size_t send_count, ElementType type,
                          void* stream = nullptr) = 0;

  void all_reduce_sum(float* data, std::size_t count) { all_reduce_sum(data, count, ElementType::kFloat32); }
};

// `size` ranks as `size` threads of this process, sharing memory: the backend
// the tests run the sharding and ring algorithms on, with 2 and 4 ranks, on a
// machine without GPUs. With BufferSpace::kDevice the buffers are device
// memory of the current GPU (ranks simulated on one device: each operation
// synchronises its stream, then copies through cudaMemcpy), so a GPU
// algorithm is tested on a one-GPU machine.
class ThreadGroup {
 public:
  // Throws std::invalid_argument for size < 1.
  explicit ThreadGroup(int size, BufferSpace space = BufferSpace::kHost);
  ~ThreadGroup();
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;

  int size() const;
  // Runs `fn` once per rank, each on its own thread, and waits for all. An
  // exception thrown on any rank is rethrown here (the first one); the
  // others are released from their collectives rather than left waiting.
  void run(const std::function<void(Communicator&)>& fn);

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace mlopt::parallel
