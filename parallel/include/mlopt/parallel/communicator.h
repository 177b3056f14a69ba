#pragma once
// The collectives mlopt's parallel algorithms use, behind one interface so
// the same algorithm runs over threads of one process (tests, CPU) and, on
// GPUs, over NCCL.
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>

namespace mlopt::parallel {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Sends `bytes` from `send` to rank + 1 and receives as many from rank - 1
  // (mod size) into `recv`: one step of a ring. Blocking; `send` and `recv`
  // must not overlap.
  virtual void ring_exchange(const void* send, void* recv, std::size_t bytes) = 0;
  // Element-wise sum over every rank's `data`, left in each rank's `data`.
  virtual void all_reduce_sum(float* data, std::size_t count) = 0;
};

// `size` ranks as `size` threads of this process, sharing memory: the CPU
// backend the tests run the sharding and ring algorithms on, with 2 and 4
// ranks, on a machine without GPUs.
class ThreadGroup {
 public:
  explicit ThreadGroup(int size);  // throws std::invalid_argument for size < 1
  ~ThreadGroup();
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;

  int size() const;
  // Runs `fn` once per rank, each on its own thread, and waits for all. An
  // exception thrown on any rank is rethrown here (the first one); the
  // others are released from their collectives rather than left waiting.
  // Every rank must call the same collectives in the same order.
  void run(const std::function<void(Communicator&)>& fn);

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace mlopt::parallel
