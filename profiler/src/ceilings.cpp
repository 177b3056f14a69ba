#include "mlopt/profiler/ceilings.h"

#include <torch/cuda.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <nlohmann/json.hpp>

#include "mlopt/core/atomic_file.h"
#include "mlopt/core/environment.h"
#include "mlopt/core/error.h"
#include "mlopt/core/torch_bridge.h"


namespace mlopt::profiler {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Sizes. On a GPU, large enough to reach the device's peak (an 8192 GEMM
// fills every SM for many waves; 1 GiB is far beyond L2). On the CPU the GEMM
// size is chosen from a probe so one multiply takes about kCpuGemmSeconds,
// and 256 MiB is beyond any last-level cache.
constexpr int64_t kCudaGemmSize = 8192;
constexpr int64_t kCudaCopyBytes = int64_t{1} << 30;
constexpr int64_t kCpuCopyBytes = int64_t{256} << 20;
constexpr int64_t kCpuGemmProbeSize = 256;
constexpr int64_t kCpuGemmMaxSize = 2048;
constexpr double kCpuGemmSeconds = 0.2;
// Repetitions are grouped into batches of about this long and the best batch
// is kept: the peak, not an average disturbed by other work on the machine.
constexpr double kBatchSeconds = 0.1;
constexpr int kBatches = 4;
constexpr int kLaunchWarmup = 20;
constexpr int kLaunchSamples = 200;

bool is_cuda(const Device& device) { return device.kind == DeviceKind::Cuda; }

void synchronize(const Device& device) {
  if (is_cuda(device)) torch::cuda::synchronize(device.index);
}

void check_available(const Device& device) {
  if (!is_cuda(device)) return;
  if (!torch::cuda::is_available()) {
    throw DeviceError(MLOPT_TORCH_CUDA ? "cannot measure the ceilings of " + to_string(device) +
                                             ": no CUDA device is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES)"
                                       : "cannot measure the ceilings of " + to_string(device) +
                                             ": this build of mlopt uses a CPU libtorch; build it against a CUDA "
                                             "libtorch (see README)");
  }
  const auto count = static_cast<int>(torch::cuda::device_count());
  if (device.index < 0 || device.index >= count) {
    throw DeviceError("cannot measure the ceilings of " + to_string(device) + ": only " + std::to_string(count) +
                      " CUDA device(s) are visible");
  }
}

// Random values, never zeros or constants: some GEMM libraries and copy
// engines take shortcuts on trivial data. Drawn in fp32 because not every
// libtorch draws fp16 on the CPU.
at::Tensor random_tensor(at::IntArrayRef shape, DType dtype, const Device& device) {
  const auto options = at::TensorOptions().dtype(at::kFloat).device(to_torch_device(device));
  return at::randn(shape, options).to(to_scalar_type(dtype));
}

// The dtype the GEMM ceiling can be measured in: the run's dtype when this
// libtorch multiplies it on this device, else fp32 (e.g. fp16 on the CPU in
// libtorch 1.13, or an integer dtype).
DType gemm_dtype(const Device& device, DType dtype) {
  if (!is_floating(dtype)) return DType::F32;
  if (is_cuda(device)) return dtype;
  try {
    const auto a = random_tensor({8, 8}, dtype, device);
    (void)at::matmul(a, a);
    return dtype;
  } catch (const c10::Error&) {
    return DType::F32;
  }
}

// The best rate (work per second) over kBatches batches of `fn`, each about
// kBatchSeconds long, after one warm-up call.
double best_rate(const std::function<void()>& fn, double work_per_call, const Device& device) {
  fn();
  synchronize(device);
  auto start = Clock::now();
  fn();
  synchronize(device);
  const double one_call = std::max(seconds_since(start), 1e-9);
  const int calls = std::clamp(static_cast<int>(kBatchSeconds / one_call), 1, 10000);
  double best = work_per_call / one_call;
  for (int b = 0; b < kBatches; ++b) {
    start = Clock::now();
    for (int i = 0; i < calls; ++i) fn();
    synchronize(device);
    best = std::max(best, work_per_call * calls / std::max(seconds_since(start), 1e-9));
  }
  return best;
}

double gemm_rate(const Device& device, DType dtype, int64_t n) {
  const auto a = random_tensor({n, n}, dtype, device);
  const auto b = random_tensor({n, n}, dtype, device);
  const double flops = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
  return best_rate([&] { (void)at::matmul(a, b); }, flops, device);
}

// A CPU GEMM size that takes about kCpuGemmSeconds, from one small probe,
// rounded to a multiple of 64.
int64_t cpu_gemm_size(const Device& device, DType dtype) {
  const auto a = random_tensor({kCpuGemmProbeSize, kCpuGemmProbeSize}, dtype, device);
  (void)at::matmul(a, a);
  const auto start = Clock::now();
  (void)at::matmul(a, a);
  const double rate = 2.0 * std::pow(static_cast<double>(kCpuGemmProbeSize), 3) / std::max(seconds_since(start), 1e-9);
  const auto n = static_cast<int64_t>(std::cbrt(kCpuGemmSeconds * rate / 2.0)) / 64 * 64;
  return std::clamp(n, kCpuGemmProbeSize, kCpuGemmMaxSize);
}

double measure_gemm_tflops(const Device& device, DType dtype) {
  const int64_t n = is_cuda(device) ? kCudaGemmSize : cpu_gemm_size(device, dtype);
  return gemm_rate(device, dtype, n) / 1e12;
}

// Bytes read plus bytes written per second of a large copy. The source is a
// random block repeated (drawing 1 GiB of normals would take longer than the
// copy measurement itself).
double measure_copy_gbps(const Device& device) {
  const int64_t bytes = is_cuda(device) ? kCudaCopyBytes : kCpuCopyBytes;
  const int64_t elements = bytes / 4;
  constexpr int64_t kBlock = 1 << 20;
  const auto source = random_tensor({kBlock}, DType::F32, device).repeat({elements / kBlock});
  auto target = at::empty_like(source);
  const double moved = 2.0 * static_cast<double>(source.numel()) * 4.0;
  return best_rate([&] { target.copy_(source); }, moved, device) / 1e9;
}

// The median time of an op on one element: what dispatching and launching
// any op costs. Synchronised each time on a GPU (so it includes the launch
// and the wait a dependent host sees); un-synchronised on the CPU, where the
// op runs inline.
double measure_launch_overhead_us(const Device& device) {
  const auto x = random_tensor({1}, DType::F32, device);
  for (int i = 0; i < kLaunchWarmup; ++i) (void)at::add(x, x);
  synchronize(device);
  std::vector<double> samples;
  samples.reserve(kLaunchSamples);
  for (int i = 0; i < kLaunchSamples; ++i) {
    const auto start = Clock::now();
    (void)at::add(x, x);
    synchronize(device);
    samples.push_back(seconds_since(start) * 1e6);
  }
  const auto middle = samples.begin() + static_cast<std::ptrdiff_t>(samples.size() / 2);
  std::nth_element(samples.begin(), middle, samples.end());
  return *middle;
}

// libtorch's errors as mlopt's: out of memory, or a device that fails.
[[noreturn]] void rethrow_torch_error(const Device& device, const std::exception& error) {
  const std::string message = torch_message(error);
  if (dynamic_cast<const c10::OutOfMemoryError*>(&error) || is_out_of_memory(message)) {
    throw OutOfMemoryError("out of memory measuring the ceilings of " + to_string(device) +
                           " (a large GEMM and a " + (is_cuda(device) ? "1 GiB" : "256 MiB") +
                           " copy need about 3 GB free): free memory on the device and try again. " + message);
  }
  throw DeviceError("measuring the ceilings of " + to_string(device) + " failed: " + message);
}

// ---- the cache file ----------------------------------------------------------

constexpr int kCacheSchemaVersion = 1;

nlohmann::json to_json(const DeviceCeilings& c) {
  return {{"device_name", c.device_name},       {"dtype", to_string(c.dtype)},
          {"matmul_tflops", c.matmul_tflops},   {"copy_gbps", c.copy_gbps},
          {"launch_overhead_us", c.launch_overhead_us}, {"measured_at", c.measured_at},
          {"torch_version", c.torch_version}};
}

DeviceCeilings from_json(const nlohmann::json& j) {
  DeviceCeilings c;
  c.device_name = j.at("device_name").get<std::string>();
  c.dtype = parse_dtype(j.at("dtype").get<std::string>());
  c.matmul_tflops = j.at("matmul_tflops").get<double>();
  c.copy_gbps = j.at("copy_gbps").get<double>();
  c.launch_overhead_us = j.at("launch_overhead_us").get<double>();
  c.measured_at = j.at("measured_at").get<std::string>();
  c.torch_version = j.at("torch_version").get<std::string>();
  return c;
}

// Every entry of the file; a missing, unreadable or malformed file holds
// none (the cache only saves time, it is never a reason to fail).
std::vector<DeviceCeilings> read_entries(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return {};
  try {
    const auto j = nlohmann::json::parse(in);
    std::vector<DeviceCeilings> entries;
    for (const auto& entry : j.at("entries")) entries.push_back(from_json(entry));
    return entries;
  } catch (const std::exception&) {
    return {};
  }
}

bool same_key(const DeviceCeilings& c, const std::string& device_name, DType dtype, const std::string& version) {
  return c.device_name == device_name && c.dtype == dtype && c.torch_version == version;
}

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

}  // namespace

DeviceCeilings measure_ceilings(const Device& device, DType dtype) {
  check_available(device);
  try {
    c10::InferenceMode inference;  // as the runner times forwards: no autograd bookkeeping
    DeviceCeilings c;
    c.device_name = device_name(device);
    c.dtype = gemm_dtype(device, dtype);
    c.matmul_tflops = measure_gemm_tflops(device, c.dtype);
    c.copy_gbps = measure_copy_gbps(device);
    c.launch_overhead_us = measure_launch_overhead_us(device);
    c.measured_at = utc_timestamp();
    c.torch_version = torch_version();
    return c;
  } catch (const mlopt::Error&) {
    throw;
  } catch (const std::exception& error) {
    rethrow_torch_error(device, error);
  }
}

std::filesystem::path default_cache_dir() {
  if (const auto dir = env("MLOPT_CACHE_DIR"); !dir.empty()) return dir;
  if (const auto dir = env("XDG_CACHE_HOME"); !dir.empty()) return std::filesystem::path(dir) / "mlopt";
  if (const auto home = env("HOME"); !home.empty()) return std::filesystem::path(home) / ".cache" / "mlopt";
  return std::filesystem::temp_directory_path() / "mlopt-cache";
}

CeilingsCache::CeilingsCache(std::filesystem::path file) : file_(std::move(file)) {}

std::optional<DeviceCeilings> CeilingsCache::find(const std::string& device_name, DType dtype) const {
  const std::string version = torch_version();
  for (const auto& entry : read_entries(file_)) {
    if (same_key(entry, device_name, dtype, version)) return entry;
  }
  return std::nullopt;
}

void CeilingsCache::store(const DeviceCeilings& ceilings) {
  auto entries = read_entries(file_);
  std::erase_if(entries, [&](const DeviceCeilings& e) {
    return same_key(e, ceilings.device_name, ceilings.dtype, ceilings.torch_version);
  });
  entries.push_back(ceilings);
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : entries) list.push_back(to_json(e));
  const nlohmann::json j = {{"format", "mlopt-ceilings"}, {"schema_version", kCacheSchemaVersion}, {"entries", list}};
  std::error_code ignored;  // a folder that cannot be made shows up as the write's IoError
  std::filesystem::create_directories(file_.parent_path(), ignored);
  write_file_atomically(file_, j.dump(2) + "\n");
}

DeviceCeilings ceilings_for(const Device& device, DType dtype, CeilingsCache& cache) {
  check_available(device);
  // Looked up under the dtype the GEMM would be measured in, so a run whose
  // dtype falls back to fp32 finds the fp32 entry instead of measuring again.
  const DType measured = gemm_dtype(device, dtype);
  if (auto cached = cache.find(device_name(device), measured)) return *cached;
  auto ceilings = measure_ceilings(device, dtype);
  try {
    cache.store(ceilings);
  } catch (const IoError&) {
    // An unwritable cache costs a measurement next time, not this profile.
  }
  return ceilings;
}

}  // namespace mlopt::profiler
