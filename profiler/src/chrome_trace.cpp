#include "mlopt/profiler/chrome_trace.h"

#include <algorithm>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "mlopt/core/atomic_file.h"

namespace mlopt::profiler {
namespace {

using nlohmann::json;

// Process and thread ids. Perfetto's JSON importer names threads by tid
// alone (not by pid and tid), so every tid in the file is unique: the
// iteration track, host threads from 1000 and each GPU's streams from a
// million times (device + 1). Counters carry no tid and land on tid == pid.
constexpr int kCpuPid = 1;
constexpr int kGpuPidBase = 100;
constexpr int64_t kIterationsTid = 1;
constexpr int64_t kHostTidBase = 1000;
constexpr int64_t kStreamTidBase = 1'000'000;

int gpu_pid(int device) { return kGpuPidBase + device; }
int64_t stream_tid(int device, uint32_t stream) { return kStreamTidBase * (device + 1) + stream; }

// Timestamps in microseconds from the first event, keeping nanoseconds as
// the fraction (what the trace-event format's "ts" and "dur" expect).
class Clock {
 public:
  explicit Clock(int64_t origin_ns) : origin_ns_(origin_ns) {}
  double ts(int64_t ns) const { return static_cast<double>(ns - origin_ns_) / 1000.0; }
  static double dur(int64_t start_ns, int64_t end_ns) {
    return static_cast<double>(std::max<int64_t>(0, end_ns - start_ns)) / 1000.0;
  }

 private:
  int64_t origin_ns_;
};

int64_t first_time_ns(const ProfileResult& p) {
  int64_t first = std::numeric_limits<int64_t>::max();
  for (const auto& op : p.trace_ops) first = std::min(first, op.start_ns);
  for (const auto& a : p.trace_gpu.gpu) first = std::min(first, a.start_ns);
  for (const auto& call : p.trace_gpu.api) first = std::min(first, call.start_ns);
  for (const auto& m : p.memory) first = std::min(first, m.time_ns);
  for (const auto& span : p.iteration_spans_ns) first = std::min(first, span.first);
  return first == std::numeric_limits<int64_t>::max() ? 0 : first;
}

// Host threads (from ops and API calls) numbered in order of their ids.
std::map<uint64_t, int64_t> host_tids(const ProfileResult& p) {
  std::set<uint64_t> threads;
  for (const auto& op : p.trace_ops) threads.insert(op.thread);
  for (const auto& call : p.trace_gpu.api) threads.insert(call.thread);
  std::map<uint64_t, int64_t> tids;
  for (const uint64_t thread : threads) tids.emplace(thread, kHostTidBase + static_cast<int64_t>(tids.size()));
  return tids;
}

json metadata(const char* what, int pid, std::optional<int64_t> tid, const std::string& name) {
  json e = {{"ph", "M"}, {"name", what}, {"pid", pid}, {"args", {{"name", name}}}};
  if (tid) e["tid"] = *tid;
  return e;
}

json sort_index(const char* what, int pid, std::optional<int64_t> tid, int64_t index) {
  json e = {{"ph", "M"}, {"name", what}, {"pid", pid}, {"args", {{"sort_index", index}}}};
  if (tid) e["tid"] = *tid;
  return e;
}

json complete(const std::string& name, const char* cat, int pid, int64_t tid, const Clock& clock, int64_t start_ns,
              int64_t end_ns, json args) {
  return {{"ph", "X"},          {"name", name},
          {"cat", cat},         {"pid", pid},
          {"tid", tid},         {"ts", clock.ts(start_ns)},
          {"dur", Clock::dur(start_ns, end_ns)}, {"args", std::move(args)}};
}

json shapes_of(const std::vector<TensorArg>& inputs) {
  json shapes = json::array();
  for (const auto& input : inputs) shapes.push_back(input.is_tensor ? json(input.shape) : json::array());
  return shapes;
}

const char* category(GpuActivityKind kind) {
  switch (kind) {
    case GpuActivityKind::Kernel: return "kernel";
    case GpuActivityKind::Memcpy: return "gpu_memcpy";
    case GpuActivityKind::Memset: return "gpu_memset";
  }
  return "kernel";
}

json gpu_args(const GpuActivity& a) {
  json args = {{"correlation", a.correlation_id}, {"device", a.device}, {"stream", a.stream}};
  if (a.kind == GpuActivityKind::Kernel) {
    args["grid"] = {a.grid[0], a.grid[1], a.grid[2]};
    args["block"] = {a.block[0], a.block[1], a.block[2]};
    args["registers per thread"] = a.registers_per_thread;
    args["shared memory"] = a.shared_memory_bytes;
  } else {
    args["bytes"] = a.bytes;
  }
  return args;
}

// The pieces of the file, in the order they are written.
struct Builder {
  const ProfileResult& p;
  Clock clock{first_time_ns(p)};
  std::map<uint64_t, int64_t> tids = host_tids(p);
  json events = json::array();

  int memory_pid() const { return p.device.kind == DeviceKind::Cuda ? gpu_pid(p.device.index) : kCpuPid; }

  void add_metadata() {
    events.push_back(metadata("process_name", kCpuPid, {}, "CPU"));
    events.push_back(sort_index("process_sort_index", kCpuPid, {}, 0));
    events.push_back(metadata("thread_name", kCpuPid, kIterationsTid, "Iterations"));
    events.push_back(sort_index("thread_sort_index", kCpuPid, kIterationsTid, 0));
    for (const auto& [thread, tid] : tids) {
      events.push_back(metadata("thread_name", kCpuPid, tid, "thread " + std::to_string(thread)));
      events.push_back(sort_index("thread_sort_index", kCpuPid, tid, tid));
    }
    std::set<int> devices;
    std::set<std::pair<int, uint32_t>> streams;
    for (const auto& a : p.trace_gpu.gpu) {
      devices.insert(a.device);
      streams.emplace(a.device, a.stream);
    }
    if (!p.memory.empty() && p.device.kind == DeviceKind::Cuda) devices.insert(p.device.index);
    for (const int device : devices) {
      events.push_back(metadata("process_name", gpu_pid(device), {}, "GPU " + std::to_string(device)));
      events.push_back(sort_index("process_sort_index", gpu_pid(device), {}, gpu_pid(device)));
    }
    for (const auto& [device, stream] : streams) {
      events.push_back(metadata("thread_name", gpu_pid(device), stream_tid(device, stream),
                                "stream " + std::to_string(stream)));
    }
  }

  void add_iterations() {
    for (std::size_t i = 0; i < p.iteration_spans_ns.size(); ++i) {
      const auto& [start, end] = p.iteration_spans_ns[i];
      events.push_back(complete("iteration " + std::to_string(i), "iteration", kCpuPid, kIterationsTid, clock, start,
                                end, json::object()));
    }
  }

  void add_ops() {
    for (const auto& op : p.trace_ops) {
      json args = {{"module", op.module_path},        {"node index", op.node_index},
                   {"input shapes", shapes_of(op.inputs)}, {"flops", op.cost.flops},
                   {"bytes", op.cost.bytes},          {"id", op.id}};
      events.push_back(complete(op.name, "op", kCpuPid, tids.at(op.thread), clock, op.start_ns, op.end_ns,
                                std::move(args)));
    }
  }

  void add_api_calls() {
    for (const auto& call : p.trace_gpu.api) {
      events.push_back(complete(call.name, call.driver ? "cuda_driver" : "cuda_runtime", kCpuPid,
                                tids.at(call.thread), clock, call.start_ns, call.end_ns,
                                {{"correlation", call.correlation_id}}));
    }
  }

  void add_gpu_activity() {
    for (const auto& a : p.trace_gpu.gpu) {
      events.push_back(complete(a.name, category(a.kind), gpu_pid(a.device), stream_tid(a.device, a.stream), clock,
                                a.start_ns, a.end_ns, gpu_args(a)));
    }
  }

  // One arrow per GPU activity launched inside an op: from the launching API
  // call (or, without one, the op's start) to the activity's start. Written
  // after the slices so that, at equal timestamps, the slice they bind to is
  // already open.
  void add_flows() {
    std::unordered_map<uint64_t, const OpEvent*> ops;
    for (const auto& op : p.trace_ops) ops.emplace(op.id, &op);
    std::unordered_map<uint32_t, uint64_t> external;
    for (const auto& c : p.trace_gpu.correlations) external.emplace(c.correlation_id, c.external_id);
    std::unordered_map<uint32_t, const ApiCall*> calls;
    for (const auto& call : p.trace_gpu.api) calls.emplace(call.correlation_id, &call);

    uint64_t flow_id = 0;
    for (const auto& a : p.trace_gpu.gpu) {
      const auto ext = external.find(a.correlation_id);
      if (ext == external.end()) continue;
      const auto op = ops.find(ext->second);
      if (op == ops.end()) continue;
      const auto call = calls.find(a.correlation_id);
      const bool has_call = call != calls.end();
      const int64_t start_ns = has_call ? call->second->start_ns : op->second->start_ns;
      const uint64_t thread = has_call ? call->second->thread : op->second->thread;
      ++flow_id;
      events.push_back({{"ph", "s"}, {"id", flow_id}, {"name", "launch"}, {"cat", "launch"}, {"pid", kCpuPid},
                        {"tid", tids.at(thread)}, {"ts", clock.ts(start_ns)}});
      events.push_back({{"ph", "f"}, {"bp", "e"}, {"id", flow_id}, {"name", "launch"}, {"cat", "launch"},
                        {"pid", gpu_pid(a.device)}, {"tid", stream_tid(a.device, a.stream)},
                        {"ts", clock.ts(a.start_ns)}});
    }
  }

  void add_memory() {
    constexpr double kMB = 1e6;  // decimal, as mlopt::human_bytes prints sizes
    for (const auto& m : p.memory) {
      events.push_back({{"ph", "C"}, {"name", "memory"}, {"pid", memory_pid()}, {"ts", clock.ts(m.time_ns)},
                        {"args",
                         {{"allocated_MB", static_cast<double>(m.allocated_bytes) / kMB},
                          {"reserved_MB", static_cast<double>(m.reserved_bytes) / kMB}}}});
    }
  }

  json build() {
    add_metadata();
    add_iterations();
    add_ops();
    add_api_calls();
    add_gpu_activity();
    add_flows();
    add_memory();
    return {{"traceEvents", std::move(events)},
            {"displayTimeUnit", "ms"},
            {"otherData",
             {{"model", p.model_path},
              {"device", to_string(p.device)},
              {"device_name", p.device_name},
              {"dtype", to_string(p.dtype)},
              {"iteration_us", p.iteration_us}}}};
  }
};

}  // namespace

std::string chrome_trace_json(const ProfileResult& profile) {
  // Kernel and module names come from outside; a stray invalid UTF-8 byte
  // becomes U+FFFD instead of an exception.
  return Builder{profile}.build().dump(-1, ' ', false, json::error_handler_t::replace);
}

void write_chrome_trace(const ProfileResult& profile, const std::filesystem::path& file) {
  write_file_atomically(file, chrome_trace_json(profile));
}

}  // namespace mlopt::profiler
