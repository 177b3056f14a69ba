// The Chrome/Perfetto trace of a hand-built profile, parsed back: events per
// track, flows from ops to the kernels they launched, timestamps, counters.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "mlopt/core/error.h"
#include "mlopt/profiler/chrome_trace.h"
#include "test_support.h"

using namespace mlopt;
using namespace mlopt::profiler;
using nlohmann::json;

namespace {

constexpr int64_t kOrigin = 1'000'000'000;  // the first event (iteration 0's start), ns

OpEvent op(uint64_t id, const std::string& name, uint64_t thread, int64_t start, int64_t end) {
  OpEvent e;
  e.id = id;
  e.name = name;
  e.thread = thread;
  e.start_ns = kOrigin + start;
  e.end_ns = kOrigin + end;
  e.iteration = 1;
  e.module_path = "transformer.h.0.attn";
  e.node_index = static_cast<int>(id) + 10;
  e.inputs = {TensorArg{{1, 128, 768}, DType::F16, true, 0}, TensorArg{{}, DType::F32, false, -1}};
  e.cost = {1e6 * static_cast<double>(id), 2e3 * static_cast<double>(id), true};
  return e;
}

GpuActivity kernel(const std::string& name, uint32_t stream, uint32_t correlation, int64_t start, int64_t end,
                   GpuActivityKind kind = GpuActivityKind::Kernel) {
  GpuActivity a;
  a.kind = kind;
  a.name = name;
  a.stream = stream;
  a.correlation_id = correlation;
  a.start_ns = kOrigin + start;
  a.end_ns = kOrigin + end;
  a.grid[0] = 96, a.grid[1] = 2, a.grid[2] = 1;
  a.block[0] = 128, a.block[1] = 1, a.block[2] = 1;
  a.registers_per_thread = 72;
  a.shared_memory_bytes = 49152;
  if (kind != GpuActivityKind::Kernel) a.bytes = 4096;
  return a;
}

ApiCall api(const std::string& name, uint32_t correlation, uint64_t thread, int64_t start, int64_t end,
            bool driver = false) {
  return {name, kOrigin + start, kOrigin + end, correlation, thread, driver};
}

// Two host threads (77: addmm then softmax; 99: mul), two streams (7, 13),
// one kernel nobody launched that we know of, three memory samples.
ProfileResult sample_profile() {
  ProfileResult p;
  p.model_path = "gpt2.pt";
  p.device = {DeviceKind::Cuda, 0};
  p.device_name = "Test GPU";
  p.dtype = DType::F16;
  p.iteration_spans_ns = {{kOrigin, kOrigin + 100'000}, {kOrigin + 200'000, kOrigin + 300'000}};
  p.trace_ops = {op(1, "aten::addmm", 77, 200'000, 210'000), op(2, "aten::softmax", 77, 220'000, 230'500),
                 op(3, "aten::mul", 99, 205'000, 215'250)};
  p.trace_gpu.api = {api("cudaLaunchKernel", 11, 77, 201'000, 203'000),
                     api("cudaMemcpyAsync", 14, 77, 204'000, 204'500),
                     api("cudaLaunchKernel", 12, 77, 221'000, 222'000),
                     api("cuLaunchKernelEx", 13, 99, 206'000, 207'000, /*driver=*/true)};
  p.trace_gpu.correlations = {{1, 11}, {1, 14}, {2, 12}, {3, 13}};
  p.trace_gpu.gpu = {kernel("gemm", 7, 11, 203'500, 208'001), kernel("Memcpy DtoD", 13, 14, 210'000, 210'700, GpuActivityKind::Memcpy),
                     kernel("softmax_kernel", 7, 12, 222'500, 224'000), kernel("mul_kernel", 13, 13, 207'500, 209'000),
                     kernel("stray_kernel", 7, 99, 230'000, 231'000)};
  std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int64_t> bytes(1'000'000, 9'000'000'000);
  for (int64_t t : {200'000, 215'000, 229'000}) {
    const int64_t allocated = bytes(random);
    p.memory.push_back({kOrigin + t, allocated, allocated + bytes(random)});
  }
  return p;
}

json parse(const ProfileResult& p) { return json::parse(chrome_trace_json(p)); }

std::vector<json> events_where(const json& trace, const std::function<bool(const json&)>& keep) {
  std::vector<json> out;
  for (const auto& e : trace.at("traceEvents")) {
    if (keep(e)) out.push_back(e);
  }
  return out;
}

std::vector<json> with_phase(const json& trace, const std::string& ph) {
  return events_where(trace, [&](const json& e) { return e.at("ph") == ph; });
}

std::vector<json> complete_in(const json& trace, const std::string& cat) {
  return events_where(trace, [&](const json& e) { return e.at("ph") == "X" && e.at("cat") == cat; });
}

// Name of the thread_name / process_name metadata for (pid, tid).
std::map<std::pair<int64_t, int64_t>, std::string> thread_names(const json& trace) {
  std::map<std::pair<int64_t, int64_t>, std::string> names;
  for (const auto& e : with_phase(trace, "M")) {
    if (e.at("name") == "thread_name") names[{e.at("pid"), e.at("tid")}] = e.at("args").at("name");
  }
  return names;
}

int64_t tid_named(const json& trace, const std::string& name) {
  for (const auto& [key, n] : thread_names(trace)) {
    if (n == name) return key.second;
  }
  ADD_FAILURE() << "no thread named " << name;
  return -1;
}

// The X event of category `cat` on (pid, tid) that contains `ts`, innermost.
std::optional<json> slice_at(const json& trace, const json& flow_event, const std::set<std::string>& cats) {
  std::optional<json> best;
  for (const auto& e : with_phase(trace, "X")) {
    if (!cats.contains(e.at("cat").get<std::string>())) continue;
    if (e.at("pid") != flow_event.at("pid") || e.at("tid") != flow_event.at("tid")) continue;
    const double ts = flow_event.at("ts"), start = e.at("ts"), dur = e.at("dur");
    if (ts < start || ts > start + dur) continue;
    if (!best || start >= best->at("ts").get<double>()) best = e;
  }
  return best;
}

}  // namespace

TEST(ChromeTrace, TopLevelAndEventCounts) {
  const auto trace = parse(sample_profile());
  EXPECT_EQ(trace.at("displayTimeUnit"), "ms");
  ASSERT_TRUE(trace.at("traceEvents").is_array());
  EXPECT_EQ(complete_in(trace, "op").size(), 3u);
  EXPECT_EQ(complete_in(trace, "cuda_runtime").size(), 3u);
  EXPECT_EQ(complete_in(trace, "cuda_driver").size(), 1u);
  EXPECT_EQ(complete_in(trace, "kernel").size(), 4u);
  EXPECT_EQ(complete_in(trace, "gpu_memcpy").size(), 1u);
  EXPECT_EQ(complete_in(trace, "iteration").size(), 2u);
  EXPECT_EQ(with_phase(trace, "C").size(), 3u);
  // Four launches an op is known for; the stray kernel has none.
  EXPECT_EQ(with_phase(trace, "s").size(), 4u);
  EXPECT_EQ(with_phase(trace, "f").size(), 4u);
  for (const auto& e : trace.at("traceEvents")) {
    const std::string ph = e.at("ph");
    EXPECT_TRUE(ph == "X" || ph == "M" || ph == "s" || ph == "f" || ph == "C") << e.dump();
    EXPECT_TRUE(e.at("pid").is_number_integer()) << e.dump();
  }
}

TEST(ChromeTrace, MetadataNamesProcessesAndTracks) {
  const auto trace = parse(sample_profile());
  std::map<int64_t, std::string> processes;
  for (const auto& e : with_phase(trace, "M")) {
    if (e.at("name") == "process_name") processes[e.at("pid")] = e.at("args").at("name");
  }
  EXPECT_EQ(processes.at(1), "CPU");
  EXPECT_EQ(processes.at(100), "GPU 0");

  const auto names = thread_names(trace);
  std::multiset<std::string> expected = {"Iterations", "thread 77", "thread 99", "stream 7", "stream 13"};
  std::multiset<std::string> got;
  std::set<int64_t> tids;
  for (const auto& [key, name] : names) {
    got.insert(name);
    tids.insert(key.second);
    EXPECT_EQ(key.first, name.starts_with("stream") ? 100 : 1) << name;
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(tids.size(), names.size()) << "Perfetto names threads by tid alone: tids must be unique";
}

TEST(ChromeTrace, TimestampsInMicrosecondsFromTheFirstEvent) {
  const auto trace = parse(sample_profile());
  double first = 1e300;
  for (const auto& e : trace.at("traceEvents")) {
    if (e.contains("ts")) first = std::min(first, e.at("ts").get<double>());
  }
  EXPECT_EQ(first, 0.0);

  const auto iterations = complete_in(trace, "iteration");
  EXPECT_EQ(iterations[0].at("name"), "iteration 0");
  EXPECT_DOUBLE_EQ(iterations[0].at("ts"), 0.0);
  EXPECT_DOUBLE_EQ(iterations[1].at("ts"), 200.0);
  EXPECT_DOUBLE_EQ(iterations[1].at("dur"), 100.0);
  EXPECT_EQ(iterations[0].at("tid"), tid_named(trace, "Iterations"));

  for (const auto& e : complete_in(trace, "op")) {
    if (e.at("name") == "aten::mul") {
      EXPECT_DOUBLE_EQ(e.at("ts"), 205.0);
      EXPECT_DOUBLE_EQ(e.at("dur"), 10.25);
      EXPECT_EQ(e.at("tid"), tid_named(trace, "thread 99"));
    }
  }
  for (const auto& e : complete_in(trace, "kernel")) {
    if (e.at("name") == "gemm") {
      EXPECT_DOUBLE_EQ(e.at("ts"), 203.5);
      EXPECT_DOUBLE_EQ(e.at("dur"), 4.501);  // nanosecond precision survives
      EXPECT_EQ(e.at("tid"), tid_named(trace, "stream 7"));
      EXPECT_EQ(e.at("pid"), 100);
    }
  }
}

TEST(ChromeTrace, OpAndKernelArguments) {
  const auto trace = parse(sample_profile());
  for (const auto& e : complete_in(trace, "op")) {
    if (e.at("name") != "aten::softmax") continue;
    const auto& args = e.at("args");
    EXPECT_EQ(args.at("module"), "transformer.h.0.attn");
    EXPECT_EQ(args.at("node index"), 12);
    EXPECT_EQ(args.at("input shapes"), json::parse("[[1, 128, 768], []]"));
    EXPECT_DOUBLE_EQ(args.at("flops"), 2e6);
    EXPECT_DOUBLE_EQ(args.at("bytes"), 4e3);
  }
  for (const auto& e : complete_in(trace, "kernel")) {
    if (e.at("name") != "gemm") continue;
    const auto& args = e.at("args");
    EXPECT_EQ(args.at("grid"), json::parse("[96, 2, 1]"));
    EXPECT_EQ(args.at("block"), json::parse("[128, 1, 1]"));
    EXPECT_EQ(args.at("registers per thread"), 72);
    EXPECT_EQ(args.at("shared memory"), 49152);
    EXPECT_EQ(args.at("correlation"), 11);
  }
  const auto copies = complete_in(trace, "gpu_memcpy");
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].at("args").at("bytes"), 4096);
  EXPECT_EQ(copies[0].at("tid"), tid_named(trace, "stream 13"));
}

TEST(ChromeTrace, FlowsConnectEachOpToItsKernels) {
  const auto trace = parse(sample_profile());
  std::map<uint64_t, json> starts, finishes;
  for (const auto& e : with_phase(trace, "s")) {
    EXPECT_EQ(e.at("cat"), "launch");
    EXPECT_TRUE(starts.emplace(e.at("id").get<uint64_t>(), e).second) << "flow ids are unique";
  }
  for (const auto& e : with_phase(trace, "f")) {
    EXPECT_EQ(e.at("cat"), "launch");
    EXPECT_EQ(e.at("bp"), "e");
    finishes.emplace(e.at("id").get<uint64_t>(), e);
  }
  ASSERT_EQ(starts.size(), finishes.size());

  std::map<std::string, std::string> launched_by;  // kernel -> op
  for (const auto& [id, s] : starts) {
    ASSERT_TRUE(finishes.contains(id)) << "flow " << id << " has no end";
    const auto& f = finishes.at(id);
    const auto gpu = slice_at(trace, f, {"kernel", "gpu_memcpy"});
    const auto host = slice_at(trace, s, {"op"});
    const auto call = slice_at(trace, s, {"cuda_runtime", "cuda_driver"});
    ASSERT_TRUE(gpu && host && call) << s.dump() << " -> " << f.dump();
    EXPECT_DOUBLE_EQ(f.at("ts"), gpu->at("ts")) << "the arrow ends at the kernel's start";
    EXPECT_DOUBLE_EQ(s.at("ts"), call->at("ts")) << "the arrow starts at the launching API call";
    launched_by[gpu->at("name")] = host->at("name");
  }
  const std::map<std::string, std::string> expected = {{"gemm", "aten::addmm"},
                                                       {"Memcpy DtoD", "aten::addmm"},
                                                       {"softmax_kernel", "aten::softmax"},
                                                       {"mul_kernel", "aten::mul"}};
  EXPECT_EQ(launched_by, expected);
}

TEST(ChromeTrace, FlowStartsAtTheOpWithoutAnApiRecord) {
  auto p = sample_profile();
  p.trace_gpu.api.clear();
  const auto trace = parse(p);
  const auto starts = with_phase(trace, "s");
  ASSERT_EQ(starts.size(), 4u);
  std::multiset<double> ts;
  for (const auto& s : starts) ts.insert(s.at("ts").get<double>());
  EXPECT_EQ(ts, (std::multiset<double>{200.0, 200.0, 220.0, 205.0}));
}

TEST(ChromeTrace, MemoryCounter) {
  const auto p = sample_profile();
  const auto counters = with_phase(parse(p), "C");
  ASSERT_EQ(counters.size(), p.memory.size());
  for (std::size_t i = 0; i < counters.size(); ++i) {
    const auto& c = counters[i];
    EXPECT_EQ(c.at("name"), "memory");
    EXPECT_EQ(c.at("pid"), 100) << "GPU memory belongs to the GPU's process";
    EXPECT_DOUBLE_EQ(c.at("ts"), static_cast<double>(p.memory[i].time_ns - kOrigin) / 1000);
    EXPECT_DOUBLE_EQ(c.at("args").at("allocated_MB"), static_cast<double>(p.memory[i].allocated_bytes) / 1e6);
    EXPECT_DOUBLE_EQ(c.at("args").at("reserved_MB"), static_cast<double>(p.memory[i].reserved_bytes) / 1e6);
  }
}

TEST(ChromeTrace, CpuProfileHasNoGpuProcess) {
  ProfileResult p;
  p.device = {DeviceKind::Cpu, 0};
  p.trace_ops = {op(1, "aten::linear", 5, 10, 20)};
  p.memory = {{kOrigin + 15, 4096, 4096}};
  const auto trace = parse(p);
  for (const auto& e : trace.at("traceEvents")) EXPECT_EQ(e.at("pid"), 1) << e.dump();
  EXPECT_DOUBLE_EQ(complete_in(trace, "op").at(0).at("ts"), 0.0);
}

TEST(ChromeTrace, EmptyProfileIsValid) {
  const auto trace = parse(ProfileResult{});
  EXPECT_TRUE(complete_in(trace, "op").empty());
  EXPECT_FALSE(with_phase(trace, "M").empty());
}

TEST(ChromeTrace, InvalidUtf8InNamesIsReplaced) {
  auto p = sample_profile();
  p.trace_gpu.gpu[0].name = "bad\xff\xfe name";
  EXPECT_NO_THROW(parse(p));
}

TEST(ChromeTrace, WrittenToAFile) {
  test::ScratchDir dir;
  const auto p = sample_profile();
  write_chrome_trace(p, dir / "trace.json");
  EXPECT_EQ(test::read_text(dir / "trace.json"), chrome_trace_json(p));
  EXPECT_THROW(write_chrome_trace(p, dir / "missing-folder" / "trace.json"), IoError);
}
