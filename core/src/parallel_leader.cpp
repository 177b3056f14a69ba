// run_led_by_rank0 (tensor_parallel.h): rank 0's model gets a forward that
// first tells the other ranks to run theirs on the same inputs, so code that
// knows nothing of ranks (the profiler, the runner) drives all of them.
#include <condition_variable>
#include <mutex>

#include "mlopt/core/tensor_parallel.h"
#include "mlopt/core/torch_bridge.h"

namespace mlopt {
namespace {

// Rank 0's forwards, published to the others: each new generation is one
// forward to run; `stop` ends them.
struct Requests {
  std::mutex m;
  std::condition_variable cv;
  uint64_t generation = 0;
  bool stop = false;
  std::vector<c10::IValue> inputs;
};

class LeaderForward final : public ForwardReplacement {
 public:
  LeaderForward(const TensorParallelModel& model, parallel::Communicator& comm, Requests& requests)
      : model_(model), comm_(comm), requests_(requests) {}
  bool fits(const std::vector<c10::IValue>&) const override { return true; }
  c10::IValue run(const std::vector<c10::IValue>& inputs) override {
    {
      std::lock_guard lock(requests_.m);
      requests_.inputs = inputs;
      ++requests_.generation;
    }
    requests_.cv.notify_all();
    return model_.forward(comm_, inputs);
  }
  std::string describe() const override { return "rank 0, leading the other ranks"; }

 private:
  const TensorParallelModel& model_;
  parallel::Communicator& comm_;
  Requests& requests_;
};

// Tells the others to stop however the leader leaves (an exception in it
// has already released them from their collectives).
struct StopOnExit {
  Requests& requests;
  ~StopOnExit() {
    {
      std::lock_guard lock(requests.m);
      requests.stop = true;
    }
    requests.cv.notify_all();
  }
};

}  // namespace

void run_led_by_rank0(const TensorParallelModel& model, const RankRunner& run_ranks,
                      const std::function<void(const Model& rank0)>& leader) {
  Requests requests;
  run_ranks([&](parallel::Communicator& comm) {
    if (comm.rank() == 0) {
      StopOnExit stop{requests};
      auto impl = std::make_shared<Model::Impl>(model.rank(0).impl());
      impl->replacement = std::make_shared<LeaderForward>(model, comm, requests);
      leader(Model::from_impl(std::move(impl)));
      return;
    }
    uint64_t done = 0;
    for (;;) {
      std::vector<c10::IValue> inputs;
      {
        std::unique_lock lock(requests.m);
        requests.cv.wait(lock, [&] { return requests.stop || requests.generation != done; });
        // Every forward rank 0 finished needed this rank's collectives, so
        // a stop never leaves one of them unrun.
        if (requests.stop) return;
        done = requests.generation;
        inputs = requests.inputs;
      }
      model.forward(comm, inputs);
    }
  });
}

}  // namespace mlopt
