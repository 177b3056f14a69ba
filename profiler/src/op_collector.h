#pragma once
// Collects every op call through libtorch's RecordFunction while active:
// name, inputs, nesting, the TorchScript module the interpreter was running,
// and (with an ActivitySource) pushes the op's id as CUPTI's external
// correlation id so the kernels it launches can be traced back to it. Also
// records allocator events (c10's memory reporting) for the memory timeline.
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "mlopt/profiler/activity.h"
#include "mlopt/profiler/profile_result.h"

namespace mlopt::profiler {

class OpCollector {
 public:
  // `source` (may be null) provides the clock and the correlation stack.
  explicit OpCollector(ActivitySource* source);
  ~OpCollector();
  OpCollector(const OpCollector&) = delete;
  OpCollector& operator=(const OpCollector&) = delete;

  // Ops between begin_iteration and end_iteration are recorded with that
  // iteration's index. Only one collector may be active per process.
  void begin_iteration(int iteration);
  void end_iteration();

  int64_t now_ns() const;
  std::vector<OpEvent> take_events();
  std::vector<MemorySample> take_memory();
  int64_t peak_allocated_bytes() const { return peak_allocated_.load(); }

  // Called by the RecordFunction and memory-reporting hooks.
  struct Open;
  uint64_t on_op_start(const char* name, std::vector<TensorArg> inputs);
  void on_op_end(uint64_t id);
  void on_memory(int64_t total_allocated, int64_t total_reserved);
  // Recording, and on the thread that began the iteration: the other ranks
  // of a parallel run (threads of this process) run the same ops meanwhile.
  bool recording() const {
    return recording_.load(std::memory_order_relaxed) && owner_.load(std::memory_order_relaxed) == this_thread();
  }
  static uint64_t this_thread();

 private:
  ActivitySource* source_;
  std::atomic<bool> recording_{false};
  std::atomic<uint64_t> owner_{0};
  int iteration_ = 0;
  std::atomic<uint64_t> next_id_{1};
  std::mutex mutex_;
  std::vector<OpEvent> events_;            // completed, in end order
  std::vector<MemorySample> memory_;
  std::atomic<int64_t> peak_allocated_{0};
  uint64_t callback_handle_ = 0;
  std::shared_ptr<void> memory_guard_;     // the thread's memory-reporting hook
};

// The dotted module path in a TorchScript module hierarchy string
// ("TOP(GPT2)::forward.transformer(GPT2Model)::forward.h(Blocks)::forward.0(Block)::forward"
// -> "transformer.h.0"): instance names, leaving out TOP, SELF and the
// placeholders TorchScript uses when it cannot name the instance.
std::string module_path_from_hierarchy(const std::string& hierarchy);

}  // namespace mlopt::profiler
