// The CUPTI activity source against real kernels, copies and allocations
// (ctest -L gpu; every test that needs a GPU skips without one). The
// CuptiRecords tests check the record conversion on hand-made records and
// need no GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cupti_records.h"
#include "mlopt/kernels/cuda_check.h"
#include "mlopt/kernels/cuda_event.h"
#include "mlopt/kernels/device_query.h"
#include "mlopt/kernels/poison.h"
#include "mlopt/profiler/activity.h"

using namespace mlopt::profiler;
using mlopt::kernels::CudaStream;
using mlopt::kernels::poison_device;

namespace {

// Why the GPU tests cannot run here, or null when they can. The test body
// skips: GTEST_SKIP only returns from the function it is written in.
const char* no_gpu_reason() {
  if (!cupti_available()) return "this build has no CUPTI";
  if (mlopt::kernels::device_count() == 0) return "no CUDA device";
  return nullptr;
}

class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t bytes) : bytes_(bytes) { MLOPT_CUDA_CHECK(cudaMalloc(&data_, bytes)); }
  ~DeviceBuffer() { cudaFree(data_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return data_; }
  std::size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_;
};

class PinnedBuffer {
 public:
  explicit PinnedBuffer(std::size_t bytes) { MLOPT_CUDA_CHECK(cudaMallocHost(&data_, bytes)); }
  ~PinnedBuffer() { cudaFreeHost(data_); }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void* get() const { return data_; }

 private:
  void* data_ = nullptr;
};

// CUPTI's id for a stream, as kernel records carry it (CUPTI must be
// initialised: call after start()).
uint32_t cupti_stream_id(cudaStream_t stream) {
  uint32_t id = 0;
  MLOPT_CUPTI_CHECK(cuptiGetStreamIdEx(nullptr, stream, 0, &id));
  return id;
}

int current_device() {
  int device = 0;
  MLOPT_CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

bool is_poison_kernel(const GpuActivity& a) {
  return a.kind == GpuActivityKind::Kernel && a.name.find("poison_kernel") != std::string::npos;
}

// Our kernels in launch order (correlation ids grow with each API call).
std::vector<GpuActivity> poison_kernels(const ActivityTrace& trace) {
  std::vector<GpuActivity> out;
  for (const auto& a : trace.gpu) {
    if (is_poison_kernel(a)) out.push_back(a);
  }
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.correlation_id < y.correlation_id; });
  return out;
}

std::set<uint64_t> external_ids_of(const ActivityTrace& trace, uint32_t correlation_id) {
  std::set<uint64_t> ids;
  for (const auto& c : trace.correlations) {
    if (c.correlation_id == correlation_id) ids.insert(c.external_id);
  }
  return ids;
}

std::vector<GpuActivity> gpu_named(const ActivityTrace& trace, const std::string& name) {
  std::vector<GpuActivity> out;
  for (const auto& a : trace.gpu) {
    if (a.name == name) out.push_back(a);
  }
  return out;
}

constexpr std::size_t kMiB = std::size_t{1} << 20;

}  // namespace

TEST(CuptiSource, RecordsEachKernelOnceOnItsStreamBetweenTheClockReadings) {
  if (const char* why = no_gpu_reason()) GTEST_SKIP() << why;
  auto source = make_cupti_source();
  ASSERT_NE(source, nullptr);
  DeviceBuffer buffer(kMiB);
  CudaStream stream;
  constexpr int kLaunches = 5;

  source->start();
  const uint32_t stream_id = cupti_stream_id(stream.get());
  const int64_t before = source->now_ns();
  for (int i = 0; i < kLaunches; ++i) poison_device(buffer.get(), buffer.bytes(), stream.get());
  stream.synchronize();
  const int64_t after = source->now_ns();
  const ActivityTrace trace = source->stop();

  const auto kernels = poison_kernels(trace);
  ASSERT_EQ(kernels.size(), static_cast<std::size_t>(kLaunches));
  std::set<uint32_t> correlation_ids;
  for (const auto& k : kernels) {
    EXPECT_LT(k.start_ns, k.end_ns);
    EXPECT_LE(before, k.start_ns);
    EXPECT_LE(k.end_ns, after);
    EXPECT_EQ(k.stream, stream_id);
    EXPECT_EQ(k.device, current_device());
    EXPECT_NE(k.correlation_id, 0u);
    correlation_ids.insert(k.correlation_id);
    // Demangled, with the launch configuration of poison_device (256 threads,
    // one per 16 bytes).
    EXPECT_NE(k.name.rfind("_Z", 0), 0u) << k.name;
    EXPECT_NE(k.name.find("mlopt::kernels::"), std::string::npos) << k.name;
    EXPECT_EQ(k.block[0], 256);
    EXPECT_EQ(k.grid[0], static_cast<int32_t>(kMiB / 16 / 256));
    EXPECT_EQ(k.grid[1], 1);
    EXPECT_GT(k.registers_per_thread, 0);
    EXPECT_EQ(k.bytes, 0);
  }
  EXPECT_EQ(correlation_ids.size(), kernels.size());
  // Kernels on one stream run one after another.
  for (std::size_t i = 1; i < kernels.size(); ++i) EXPECT_LE(kernels[i - 1].end_ns, kernels[i].start_ns);
  // The stream synchronisation is recorded too.
  const bool synced = std::any_of(trace.syncs.begin(), trace.syncs.end(), [&](const SyncActivity& s) {
    return s.kind == "stream" && s.stream == stream_id && s.start_ns <= s.end_ns;
  });
  EXPECT_TRUE(synced);
  EXPECT_EQ(trace.dropped_records, 0);
  EXPECT_GE(trace.buffers_completed, 1);
}

TEST(CuptiSource, TheRuntimeLaunchCallSharesTheKernelsCorrelationId) {
  if (const char* why = no_gpu_reason()) GTEST_SKIP() << why;
  auto source = make_cupti_source();
  DeviceBuffer buffer(64 * 1024);
  CudaStream stream;

  source->start();
  const int64_t before = source->now_ns();
  poison_device(buffer.get(), buffer.bytes(), stream.get());
  poison_device(buffer.get(), buffer.bytes(), stream.get());
  stream.synchronize();
  const ActivityTrace trace = source->stop();

  const auto kernels = poison_kernels(trace);
  ASSERT_EQ(kernels.size(), 2u);
  for (const auto& k : kernels) {
    const auto launch = std::find_if(trace.api.begin(), trace.api.end(), [&](const ApiCall& c) {
      return !c.driver && c.correlation_id == k.correlation_id;
    });
    ASSERT_NE(launch, trace.api.end()) << "no runtime API record for correlation id " << k.correlation_id;
    EXPECT_EQ(launch->name.rfind("cudaLaunch", 0), 0u) << launch->name;
    EXPECT_EQ(launch->name.find("_v"), std::string::npos) << "version suffix kept: " << launch->name;
    EXPECT_LE(before, launch->start_ns);
    EXPECT_LE(launch->start_ns, launch->end_ns);
    // The launch returns before (or about when) its kernel starts.
    EXPECT_LE(launch->start_ns, k.start_ns);
    EXPECT_NE(launch->thread, 0u);
  }
  EXPECT_EQ(trace.dropped_records, 0);
}

TEST(CuptiSource, ExternalIdsMapTheKernelsLaunchedWhilePushed) {
  if (const char* why = no_gpu_reason()) GTEST_SKIP() << why;
  auto source = make_cupti_source();
  DeviceBuffer buffer(64 * 1024);
  CudaStream stream;
  const auto launch = [&] { poison_device(buffer.get(), buffer.bytes(), stream.get()); };

  source->start();
  launch();  // outside any id
  source->push_external_id(42);
  launch();
  launch();
  source->push_external_id(43);  // nested: the innermost id wins
  launch();
  source->pop_external_id();
  launch();  // 42 again
  source->pop_external_id();
  launch();  // outside again
  stream.synchronize();
  const ActivityTrace trace = source->stop();

  const auto kernels = poison_kernels(trace);
  ASSERT_EQ(kernels.size(), 6u);
  const std::vector<std::set<uint64_t>> expected = {{}, {42}, {42}, {43}, {42}, {}};
  for (std::size_t i = 0; i < kernels.size(); ++i) {
    EXPECT_EQ(external_ids_of(trace, kernels[i].correlation_id), expected[i]) << "kernel " << i;
  }
  EXPECT_EQ(trace.dropped_records, 0);
}

TEST(CuptiSource, CopiesAndMemsetsHaveTheirSizesAndDirections) {
  if (const char* why = no_gpu_reason()) GTEST_SKIP() << why;
  auto source = make_cupti_source();
  // Different sizes per direction, so that each record is known by its size.
  const std::size_t to_device = 3 * kMiB, on_device = 2 * kMiB, to_host = kMiB, set = kMiB / 2;
  PinnedBuffer host(3 * kMiB);
  std::memset(host.get(), 1, 3 * kMiB);
  DeviceBuffer a(3 * kMiB), b(3 * kMiB);

  source->start();
  MLOPT_CUDA_CHECK(cudaMemcpy(a.get(), host.get(), to_device, cudaMemcpyHostToDevice));
  MLOPT_CUDA_CHECK(cudaMemcpy(b.get(), a.get(), on_device, cudaMemcpyDeviceToDevice));
  MLOPT_CUDA_CHECK(cudaMemcpy(host.get(), b.get(), to_host, cudaMemcpyDeviceToHost));
  MLOPT_CUDA_CHECK(cudaMemset(a.get(), 0, set));
  MLOPT_CUDA_CHECK(cudaDeviceSynchronize());
  const ActivityTrace trace = source->stop();

  const std::map<std::string, std::size_t> expected = {
      {"Memcpy HtoD", to_device}, {"Memcpy DtoD", on_device}, {"Memcpy DtoH", to_host}, {"Memset", set}};
  for (const auto& [name, bytes] : expected) {
    const auto records = gpu_named(trace, name);
    ASSERT_EQ(records.size(), 1u) << name;
    const GpuActivity& r = records.front();
    EXPECT_EQ(r.kind, name == "Memset" ? GpuActivityKind::Memset : GpuActivityKind::Memcpy) << name;
    EXPECT_EQ(r.bytes, static_cast<int64_t>(bytes)) << name;
    EXPECT_LE(r.start_ns, r.end_ns) << name;
    EXPECT_GT(r.start_ns, 0) << name;
    EXPECT_EQ(r.device, current_device()) << name;
    // The cudaMemcpy/cudaMemset call that made it.
    const bool has_call = std::any_of(trace.api.begin(), trace.api.end(), [&](const ApiCall& c) {
      return !c.driver && c.correlation_id == r.correlation_id && c.name.rfind("cudaMem", 0) == 0;
    });
    EXPECT_TRUE(has_call) << name;
  }
  EXPECT_EQ(trace.dropped_records, 0);
}

TEST(CuptiSource, RecordsDeviceAllocationsAndFrees) {
  if (const char* why = no_gpu_reason()) GTEST_SKIP() << why;
  auto source = make_cupti_source();
  const std::size_t bytes = 4 * kMiB;  // a multiple of the 2 MiB granule: no rounding

  source->start();
  const int64_t before = source->now_ns();
  {
    DeviceBuffer buffer(bytes);
    PinnedBuffer host(kMiB);  // host memory: not the GPU's, not recorded as such
  }
  const int64_t after = source->now_ns();
  const ActivityTrace trace = source->stop();

  int allocations = 0, frees = 0;
  for (const auto& m : trace.memory) {
    EXPECT_NE(m.bytes, static_cast<int64_t>(kMiB)) << "pinned host memory recorded as device memory";
    EXPECT_EQ(m.device, current_device());
    EXPECT_LE(before, m.time_ns);
    EXPECT_LE(m.time_ns, after);
    if (m.bytes == static_cast<int64_t>(bytes)) ++allocations;
    if (m.bytes == -static_cast<int64_t>(bytes)) ++frees;
  }
  EXPECT_EQ(allocations, 1);
  EXPECT_EQ(frees, 1);
}

TEST(CuptiSource, TwentyThousandLaunchesLoseNothing) {
  if (const char* why = no_gpu_reason()) GTEST_SKIP() << why;
  auto source = make_cupti_source();
  DeviceBuffer buffer(256);
  CudaStream stream;
  constexpr int kLaunches = 20000;

  source->start();
  for (int i = 0; i < kLaunches; ++i) poison_device(buffer.get(), buffer.bytes(), stream.get());
  stream.synchronize();
  const ActivityTrace trace = source->stop();

  const auto kernels = poison_kernels(trace);
  EXPECT_EQ(kernels.size(), static_cast<std::size_t>(kLaunches));
  std::set<uint32_t> correlation_ids;
  int untimed = 0;
  for (const auto& k : kernels) {
    correlation_ids.insert(k.correlation_id);
    if (k.start_ns == 0 || k.end_ns < k.start_ns) ++untimed;
  }
  EXPECT_EQ(correlation_ids.size(), kernels.size());
  EXPECT_EQ(untimed, 0);
  EXPECT_EQ(trace.dropped_records, 0);
  EXPECT_GE(trace.buffers_completed, 1);
}

TEST(CuptiSource, StartsAndStopsSeveralTimesInOneProcess) {
  if (const char* why = no_gpu_reason()) GTEST_SKIP() << why;
  auto source = make_cupti_source();
  DeviceBuffer buffer(64 * 1024);
  CudaStream stream;
  for (int launches : {2, 3, 0, 1}) {
    source->start();
    for (int i = 0; i < launches; ++i) poison_device(buffer.get(), buffer.bytes(), stream.get());
    stream.synchronize();
    const ActivityTrace trace = source->stop();
    // Each session holds exactly its own kernels, none of the one before.
    EXPECT_EQ(poison_kernels(trace).size(), static_cast<std::size_t>(launches));
    EXPECT_EQ(trace.dropped_records, 0);
  }
  // Nothing recorded between sessions turns up in the next one.
  poison_device(buffer.get(), buffer.bytes(), stream.get());
  stream.synchronize();
  source->start();
  const ActivityTrace empty = source->stop();
  EXPECT_TRUE(poison_kernels(empty).empty());
}

TEST(CuptiSource, ANewSourceRecordsAfterOneWasDestroyedWhileRecording) {
  if (const char* why = no_gpu_reason()) GTEST_SKIP() << why;
  DeviceBuffer buffer(64 * 1024);
  CudaStream stream;
  {
    auto abandoned = make_cupti_source();
    abandoned->start();
    poison_device(buffer.get(), buffer.bytes(), stream.get());
  }  // the destructor stops it, without throwing
  auto source = make_cupti_source();
  source->start();
  poison_device(buffer.get(), buffer.bytes(), stream.get());
  stream.synchronize();
  const ActivityTrace trace = source->stop();
  EXPECT_EQ(poison_kernels(trace).size(), 1u);
}

TEST(CuptiSource, OneSourceRecordsAtATime) {
  if (const char* why = no_gpu_reason()) GTEST_SKIP() << why;
  auto first = make_cupti_source();
  auto second = make_cupti_source();
  EXPECT_THROW(first->stop(), std::logic_error);  // never started
  first->start();
  EXPECT_THROW(first->start(), std::logic_error);
  EXPECT_THROW(second->start(), std::logic_error);
  first->stop();
  second->start();
  second->stop();
}

TEST(CuptiSource, TheClockIsMonotonicAndInNanoseconds) {
  if (const char* why = no_gpu_reason()) GTEST_SKIP() << why;
  auto source = make_cupti_source();
  int64_t last = source->now_ns();
  EXPECT_GT(last, 0);
  for (int i = 0; i < 10000; ++i) {
    const int64_t t = source->now_ns();
    ASSERT_GE(t, last);
    last = t;
  }
  const int64_t before = source->now_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const int64_t elapsed = source->now_ns() - before;
  EXPECT_GE(elapsed, 19'000'000);
  EXPECT_LT(elapsed, 2'000'000'000);
}

TEST(CuptiSource, PoppingAnIdNeverPushedThrows) {
  if (const char* why = no_gpu_reason()) GTEST_SKIP() << why;
  auto source = make_cupti_source();
  EXPECT_THROW(source->pop_external_id(), std::runtime_error);
}

// Where there is no GPU, make_cupti_source says so in words (this one runs
// only on machines without a GPU).
TEST(CuptiSource, WithoutAGpuTheErrorSaysWhatIsMissing) {
  if (!cupti_available()) GTEST_SKIP() << "this build has no CUPTI";
  if (mlopt::kernels::device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  try {
    make_cupti_source();
    FAIL() << "make_cupti_source succeeded without a GPU";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("GPU"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("nvidia-smi"), std::string::npos) << e.what();
  }
}

// --- Record conversion on hand-made records: no GPU needed. ---

TEST(CuptiRecords, KernelNamesAreDemangledOrKeptAsTheyAre) {
  using detail::demangle;
  EXPECT_EQ(demangle("_ZN5mlopt7kernels36_GLOBAL__N__4d13de88_4_k_cu_102861c413poison_kernelEP5uint4mPtm"),
            "mlopt::kernels::(anonymous namespace)::poison_kernel"
            "(uint4*, unsigned long, unsigned short*, unsigned long)");
  EXPECT_EQ(demangle("my_extern_c_kernel"), "my_extern_c_kernel");
  EXPECT_EQ(demangle("_Z_not_really_mangled("), "_Z_not_really_mangled(");
  EXPECT_EQ(demangle(nullptr), "<unnamed kernel>");
}

TEST(CuptiRecords, ApiNamesLoseTheirVersionSuffix) {
  using detail::api_name;
  EXPECT_EQ(api_name(false, CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000), "cudaLaunchKernel");
  EXPECT_EQ(api_name(true, CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel), "cuLaunchKernel");
  EXPECT_EQ(api_name(true, CUPTI_DRIVER_TRACE_CBID_cuMemcpyHtoD_v2), "cuMemcpyHtoD");
  EXPECT_EQ(api_name(false, CUPTI_RUNTIME_TRACE_CBID_cudaStreamSynchronize_v3020), "cudaStreamSynchronize");
  EXPECT_EQ(api_name(false, 0x7ffffff0u), "CUDA runtime API " + std::to_string(0x7ffffff0u));
}

TEST(CuptiRecords, CopiesAreNamedByDirection) {
  EXPECT_EQ(detail::memcpy_name(CUPTI_ACTIVITY_MEMCPY_KIND_HTOD), "Memcpy HtoD");
  EXPECT_EQ(detail::memcpy_name(CUPTI_ACTIVITY_MEMCPY_KIND_DTOH), "Memcpy DtoH");
  EXPECT_EQ(detail::memcpy_name(CUPTI_ACTIVITY_MEMCPY_KIND_DTOD), "Memcpy DtoD");
  EXPECT_EQ(detail::memcpy_name(CUPTI_ACTIVITY_MEMCPY_KIND_HTOH), "Memcpy HtoH");
  EXPECT_EQ(detail::memcpy_name(CUPTI_ACTIVITY_MEMCPY_KIND_PTOP), "Memcpy PtoP");
  EXPECT_EQ(detail::memcpy_name(200), "Memcpy");
}

TEST(CuptiRecords, AKernelRecordBecomesAGpuActivity) {
  CUpti_ActivityKernel10 k{};
  k.kind = CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL;
  k.start = 1000;
  k.end = 2500;
  k.deviceId = 1;
  k.streamId = 13;
  k.correlationId = 77;
  k.gridX = 4, k.gridY = 2, k.gridZ = 1;
  k.blockX = 128, k.blockY = 1, k.blockZ = 1;
  k.registersPerThread = 40;
  k.staticSharedMemory = 1024;
  k.dynamicSharedMemory = 4096;
  k.name = "_Z3fooPf";
  ActivityTrace trace;
  detail::RecordConverter converter;
  converter.append(reinterpret_cast<const CUpti_Activity&>(k), trace);
  ASSERT_EQ(trace.gpu.size(), 1u);
  const GpuActivity& a = trace.gpu.front();
  EXPECT_EQ(a.kind, GpuActivityKind::Kernel);
  EXPECT_EQ(a.name, "foo(float*)");
  EXPECT_EQ(a.start_ns, 1000);
  EXPECT_EQ(a.end_ns, 2500);
  EXPECT_EQ(a.device, 1);
  EXPECT_EQ(a.stream, 13u);
  EXPECT_EQ(a.correlation_id, 77u);
  EXPECT_EQ(a.grid[0], 4);
  EXPECT_EQ(a.grid[1], 2);
  EXPECT_EQ(a.block[0], 128);
  EXPECT_EQ(a.registers_per_thread, 40);
  EXPECT_EQ(a.shared_memory_bytes, 5120);
  EXPECT_EQ(a.bytes, 0);
}

TEST(CuptiRecords, CopyMemsetApiAndSyncRecordsConvert) {
  ActivityTrace trace;
  detail::RecordConverter converter;
  const auto append = [&](const auto& record) {
    converter.append(reinterpret_cast<const CUpti_Activity&>(record), trace);
  };

  CUpti_ActivityMemcpy6 copy{};
  copy.kind = CUPTI_ACTIVITY_KIND_MEMCPY;
  copy.copyKind = CUPTI_ACTIVITY_MEMCPY_KIND_DTOH;
  copy.bytes = 4096;
  copy.start = 10;
  copy.end = 20;
  copy.streamId = 7;
  copy.correlationId = 5;
  append(copy);
  CUpti_ActivityMemset4 set{};
  set.kind = CUPTI_ACTIVITY_KIND_MEMSET;
  set.bytes = 512;
  set.correlationId = 6;
  append(set);
  CUpti_ActivityAPI api{};
  api.kind = CUPTI_ACTIVITY_KIND_DRIVER;
  api.cbid = CUPTI_DRIVER_TRACE_CBID_cuLaunchKernel;
  api.start = 1;
  api.end = 3;
  api.correlationId = 8;
  api.threadId = 1234;
  append(api);
  CUpti_ActivitySynchronization2 sync{};
  sync.kind = CUPTI_ACTIVITY_KIND_SYNCHRONIZATION;
  sync.type = CUPTI_ACTIVITY_SYNCHRONIZATION_TYPE_EVENT_SYNCHRONIZE;
  sync.streamId = CUPTI_SYNCHRONIZATION_INVALID_VALUE;
  sync.correlationId = 9;
  append(sync);
  CUpti_Activity unknown{};
  unknown.kind = CUPTI_ACTIVITY_KIND_NAME;  // not a kind mlopt enables: skipped
  append(unknown);

  ASSERT_EQ(trace.gpu.size(), 2u);
  EXPECT_EQ(trace.gpu[0].name, "Memcpy DtoH");
  EXPECT_EQ(trace.gpu[0].kind, GpuActivityKind::Memcpy);
  EXPECT_EQ(trace.gpu[0].bytes, 4096);
  EXPECT_EQ(trace.gpu[0].stream, 7u);
  EXPECT_EQ(trace.gpu[0].correlation_id, 5u);
  EXPECT_EQ(trace.gpu[1].name, "Memset");
  EXPECT_EQ(trace.gpu[1].kind, GpuActivityKind::Memset);
  EXPECT_EQ(trace.gpu[1].bytes, 512);
  ASSERT_EQ(trace.api.size(), 1u);
  EXPECT_EQ(trace.api[0].name, "cuLaunchKernel");
  EXPECT_TRUE(trace.api[0].driver);
  EXPECT_EQ(trace.api[0].thread, 1234u);
  EXPECT_EQ(trace.api[0].correlation_id, 8u);
  ASSERT_EQ(trace.syncs.size(), 1u);
  EXPECT_EQ(trace.syncs[0].kind, "event");
  EXPECT_EQ(trace.syncs[0].stream, 0u);
  EXPECT_EQ(trace.syncs[0].correlation_id, 9u);
}

TEST(CuptiRecords, OnlyOurExternalIdsAndOnlyDeviceMemoryAreKept) {
  CUpti_ActivityExternalCorrelation ours{};
  ours.kind = CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION;
  ours.externalKind = CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0;
  ours.externalId = 42;
  ours.correlationId = 3;
  const auto kept = detail::to_external_correlation(ours);
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->external_id, 42u);
  EXPECT_EQ(kept->correlation_id, 3u);
  CUpti_ActivityExternalCorrelation theirs = ours;
  theirs.externalKind = CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM1;
  EXPECT_FALSE(detail::to_external_correlation(theirs).has_value());

  CUpti_ActivityMemory4 memory{};
  memory.kind = CUPTI_ACTIVITY_KIND_MEMORY2;
  memory.memoryKind = CUPTI_ACTIVITY_MEMORY_KIND_DEVICE;
  memory.memoryOperationType = CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION;
  memory.bytes = 1 << 20;
  memory.timestamp = 99;
  memory.deviceId = 2;
  auto m = detail::to_memory_activity(memory);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->bytes, 1 << 20);
  EXPECT_EQ(m->time_ns, 99);
  EXPECT_EQ(m->device, 2);
  memory.memoryOperationType = CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_RELEASE;
  m = detail::to_memory_activity(memory);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->bytes, -(1 << 20));
  memory.memoryKind = CUPTI_ACTIVITY_MEMORY_KIND_PINNED;
  EXPECT_FALSE(detail::to_memory_activity(memory).has_value());
}

TEST(CuptiRecords, ErrorsNameTheCallAndSayWhatToDo) {
  try {
    MLOPT_CUPTI_CHECK(CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED);
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("Nsight Systems"), std::string::npos) << what;
    EXPECT_NE(what.find("CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED"), std::string::npos) << what;
    EXPECT_NE(what.find("test_cupti_source.cpp"), std::string::npos) << what;
  }
  try {
    MLOPT_CUPTI_CHECK(CUPTI_ERROR_UNKNOWN);
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no usable NVIDIA GPU or driver"), std::string::npos) << e.what();
  }
}
