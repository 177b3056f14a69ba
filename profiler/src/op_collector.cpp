#include "op_collector.h"

#include <ATen/record_function.h>
#include <c10/core/Allocator.h>
#include <c10/util/ThreadLocalDebugInfo.h>
#include <torch/csrc/jit/runtime/interpreter.h>
#include <torch/script.h>
#include <torch/version.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <string_view>

#include "mlopt/core/error.h"
#include "mlopt/core/torch_bridge.h"
#include "nvtx_ranges.h"

namespace mlopt::profiler {
namespace {

std::atomic<OpCollector*> g_active{nullptr};

// Ops open on this thread, innermost last (RecordFunction start/end nest).
thread_local std::vector<OpEvent> t_open;
// Module ranges open on this thread for Nsight Systems.
thread_local NvtxModuleRanges t_modules;

TensorArg describe_tensor(const at::Tensor& t) {
  TensorArg a;
  if (!t.defined()) return a;
  a.shape = t.sizes().vec();
  try {
    a.dtype = from_scalar_type(t.scalar_type());
  } catch (const Error&) {
    a.dtype = DType::F32;  // complex/quantized: sizes still count
  }
  return a;
}

// The op's own arguments: libtorch 1.13 hands the callback the whole
// interpreter stack, whose last num_inputs values are this op's. Int lists
// (dims, sizes) keep their values in `shape`; tensor lists (cat's inputs)
// become one argument per tensor, as the cost model expects.
std::vector<TensorArg> describe_inputs(const at::RecordFunction& fn) {
  auto all = fn.inputs();
  const std::size_t n = std::min(all.size(), fn.num_inputs());
  const auto inputs = all.slice(all.size() - n, n);
  std::vector<TensorArg> args;
  args.reserve(inputs.size());
  for (const auto& v : inputs) {
    if (v.isTensor()) {
      args.push_back(describe_tensor(v.toTensor()));
    } else if (v.isTensorList()) {
      for (const at::Tensor& t : v.toTensorList().vec()) args.push_back(describe_tensor(t));
    } else {
      TensorArg a;
      a.is_tensor = false;
      if (v.isInt()) a.scalar = static_cast<double>(v.toInt());
      else if (v.isDouble()) a.scalar = v.toDouble();
      else if (v.isBool()) a.scalar = v.toBool() ? 1 : 0;
      else if (v.isIntList()) a.shape = v.toIntVector();
      args.push_back(std::move(a));
    }
  }
  return args;
}

struct OpContext : at::ObserverContext {
  uint64_t id = 0;
};

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  OpCollector* c = g_active.load(std::memory_order_acquire);
  if (!c || !c->recording()) return nullptr;
  auto ctx = std::make_unique<OpContext>();
  // Only ops the interpreter calls itself are graph nodes whose cost is
  // counted; describing nested ops' inputs would double the profiler's cost.
  ctx->id = c->on_op_start(fn.name(), t_open.empty() ? describe_inputs(fn) : std::vector<TensorArg>{});
  return ctx;
}

void on_end(const at::RecordFunction&, at::ObserverContext* ctx) {
  OpCollector* c = g_active.load(std::memory_order_acquire);
  if (!c || !ctx) return;
  c->on_op_end(static_cast<OpContext*>(ctx)->id);
}

#if TORCH_VERSION_MAJOR >= 2
using MemoryTotal = size_t;
#else
using MemoryTotal = int64_t;
#endif

// c10's hook for allocator events: the CPU allocator and CUDA's caching
// allocator report every allocation and free with their running totals.
class MemoryReporter final : public c10::MemoryReportingInfoBase {
 public:
  explicit MemoryReporter(OpCollector* collector) : collector_(collector) {}
  void reportMemoryUsage(void*, int64_t, MemoryTotal total_allocated, MemoryTotal total_reserved,
                         c10::Device) override {
    collector_->on_memory(static_cast<int64_t>(total_allocated), static_cast<int64_t>(total_reserved));
  }
  bool memoryProfilingEnabled() const override { return collector_->recording(); }

 private:
  OpCollector* collector_;
};

// The module whose code the TorchScript interpreter is running on this thread.
std::string current_module_path() {
  std::string joined;
  for (const auto& frame : torch::jit::currentModuleHierarchy()) joined += frame + ".";
  return module_path_from_hierarchy(joined);
}

}  // namespace

std::string module_path_from_hierarchy(const std::string& hierarchy) {
  // Frames look like "name(Type)::function"; the instance names, in order,
  // are the path. Parsed by hand: this runs for every op while profiling.
  std::string path;
  std::size_t pos = 0;
  while (pos < hierarchy.size()) {
    const auto open = hierarchy.find('(', pos);
    if (open == std::string::npos) break;
    const auto close = hierarchy.find(")::", open);
    if (close == std::string::npos) break;
    std::size_t start = open;
    while (start > pos && hierarchy[start - 1] != '.') --start;
    const std::string_view name(hierarchy.data() + start, open - start);
    if (!name.empty() && name != "TOP" && name != "SELF" && name != "INSTANCE_NAME_UNKNOWN" &&
        name != "UNKNOWN_INSTANCE" && name != "CALL_FUNCTION") {
      if (!path.empty()) path += '.';
      path += name;
    }
    // Skip the function name: up to the next '.' that starts a frame.
    const auto dot = hierarchy.find('.', close + 3);
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return path;
}

OpCollector::OpCollector(ActivitySource* source) : source_(source) {
  OpCollector* expected = nullptr;
  if (!g_active.compare_exchange_strong(expected, this)) {
    throw UsageError("another profile is already running in this process");
  }
  callback_handle_ = at::addGlobalCallback(
      at::RecordFunctionCallback(on_start, on_end).needsInputs(true).scopes({at::RecordScope::FUNCTION}));
}

OpCollector::~OpCollector() {
  at::removeCallback(callback_handle_);
  g_active.store(nullptr, std::memory_order_release);
}

int64_t OpCollector::now_ns() const {
  if (source_) return source_->now_ns();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t OpCollector::this_thread() { return static_cast<uint64_t>(::syscall(SYS_gettid)); }

void OpCollector::begin_iteration(int iteration) {
  iteration_ = iteration;
  owner_.store(this_thread(), std::memory_order_relaxed);
  // The hook is thread-local: installed on the thread that runs the forward.
  memory_guard_ = std::make_shared<c10::DebugInfoGuard>(c10::DebugInfoKind::PROFILER_STATE,
                                                        std::make_shared<MemoryReporter>(this));
  recording_.store(true, std::memory_order_release);
}

void OpCollector::end_iteration() {
  recording_.store(false, std::memory_order_release);
  t_modules.close_all();
  memory_guard_.reset();
}

uint64_t OpCollector::on_op_start(const char* name, std::vector<TensorArg> inputs) {
  OpEvent e;
  e.id = next_id_.fetch_add(1, std::memory_order_relaxed);
  e.parent = t_open.empty() ? 0 : t_open.back().id;
  e.depth = static_cast<int>(t_open.size());
  e.name = name;
  e.iteration = iteration_;
  // The kernel's thread id, as CUPTI reports for API calls: ops and their
  // launches share a row in the trace.
  e.thread = static_cast<uint64_t>(::syscall(SYS_gettid));
  e.inputs = std::move(inputs);
  // Only ops the interpreter calls itself need a module: nested ops inherit
  // their root's, and asking the interpreter costs microseconds.
  if (e.depth == 0) {
    e.module_path = current_module_path();
    t_modules.enter(e.module_path);
  }
  nvtx_push(name);
  if (source_) source_->push_external_id(e.id);
  e.start_ns = now_ns();
  t_open.push_back(std::move(e));
  return t_open.back().id;
}

void OpCollector::on_op_end(uint64_t id) {
  const int64_t end = now_ns();
  if (t_open.empty() || t_open.back().id != id) return;  // started before recording began
  nvtx_pop();
  if (source_) source_->pop_external_id();
  OpEvent e = std::move(t_open.back());
  t_open.pop_back();
  e.end_ns = end;
  std::lock_guard<std::mutex> lock(mutex_);
  events_.push_back(std::move(e));
}

void OpCollector::on_memory(int64_t total_allocated, int64_t total_reserved) {
  int64_t peak = peak_allocated_.load(std::memory_order_relaxed);
  while (total_allocated > peak && !peak_allocated_.compare_exchange_weak(peak, total_allocated)) {
  }
  const int64_t t = now_ns();
  std::lock_guard<std::mutex> lock(mutex_);
  // The CPU allocator has no pool: what it holds is what is allocated.
  memory_.push_back({t, total_allocated, std::max(total_reserved, total_allocated)});
}

std::vector<OpEvent> OpCollector::take_events() {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::exchange(events_, {});
}

std::vector<MemorySample> OpCollector::take_memory() {
  std::lock_guard<std::mutex> lock(mutex_);
  return std::exchange(memory_, {});
}

}  // namespace mlopt::profiler
