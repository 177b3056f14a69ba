#include <atomic>
#include <barrier>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mlopt/parallel/communicator.h"

namespace mlopt::parallel {

struct ThreadGroup::State {
  explicit State(int n) : size(n), sync(n), published(static_cast<std::size_t>(n)) {}
  int size;
  std::barrier<> sync;
  std::vector<const void*> published;  // each rank's buffer for the current collective
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr error;
};

namespace {

class FailedPeer : public std::runtime_error {
 public:
  FailedPeer() : std::runtime_error("another rank failed") {}
};

class ThreadCommunicator final : public Communicator {
 public:
  ThreadCommunicator(ThreadGroup::State& state, int rank) : s_(state), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return s_.size; }

  void ring_exchange(const void* send, void* recv, std::size_t bytes) override {
    s_.published[rank_] = send;
    wait();
    const int from = (rank_ - 1 + s_.size) % s_.size;
    std::memcpy(recv, s_.published[from], bytes);
    wait();  // nobody reuses its send buffer before its neighbour has copied it
  }

  void all_reduce_sum(float* data, std::size_t count) override {
    s_.published[rank_] = data;
    wait();
    std::vector<float> sum(count, 0.0f);
    // Every rank adds in rank order, so all get bit-identical sums.
    for (int r = 0; r < s_.size; ++r) {
      const auto* other = static_cast<const float*>(s_.published[r]);
      for (std::size_t i = 0; i < count; ++i) sum[i] += other[i];
    }
    wait();  // all have read every buffer before any is overwritten
    std::memcpy(data, sum.data(), count * sizeof(float));
  }

 private:
  void wait() {
    s_.sync.arrive_and_wait();
    if (s_.failed.load()) throw FailedPeer();
  }
  ThreadGroup::State& s_;
  int rank_;
};

}  // namespace

ThreadGroup::ThreadGroup(int size) {
  if (size < 1) throw std::invalid_argument("a thread group needs at least 1 rank, got " + std::to_string(size));
  state_ = std::make_unique<State>(size);
}

ThreadGroup::~ThreadGroup() = default;

int ThreadGroup::size() const { return state_->size; }

void ThreadGroup::run(const std::function<void(Communicator&)>& fn) {
  State& s = *state_;
  s.failed = false;
  s.error = nullptr;
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(s.size));
  for (int r = 0; r < s.size; ++r) {
    threads.emplace_back([&s, &fn, r] {
      ThreadCommunicator comm(s, r);
      try {
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
  const auto error = s.error;
  state_ = std::make_unique<State>(n);
  if (error) std::rethrow_exception(error);
}

}  // namespace mlopt::parallel
