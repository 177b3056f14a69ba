// Device ceilings: a real (small) measurement on the CPU, and the JSON cache
// keyed by device, dtype and libtorch version.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>

#include "mlopt/core/error.h"
#include "mlopt/core/torch_bridge.h"
#include "mlopt/profiler/ceilings.h"
#include "test_support.h"

using namespace mlopt;
using namespace mlopt::profiler;

namespace {

const Device kCpu{DeviceKind::Cpu, 0};

// Made-up ceilings on fresh random values, so a round trip cannot pass by
// matching defaults.
DeviceCeilings random_ceilings(const std::string& device_name, DType dtype) {
  static std::mt19937 random(std::random_device{}());
  std::uniform_real_distribution<double> rate(1.0, 1000.0);
  DeviceCeilings c;
  c.device_name = device_name;
  c.dtype = dtype;
  c.matmul_tflops = rate(random);
  c.copy_gbps = rate(random);
  c.launch_overhead_us = rate(random) / 100;
  c.measured_at = "2026-11-25T10:11:12Z";
  c.torch_version = torch_version();
  return c;
}

void expect_same(const DeviceCeilings& a, const DeviceCeilings& b) {
  EXPECT_EQ(a.device_name, b.device_name);
  EXPECT_EQ(a.dtype, b.dtype);
  EXPECT_DOUBLE_EQ(a.matmul_tflops, b.matmul_tflops);
  EXPECT_DOUBLE_EQ(a.copy_gbps, b.copy_gbps);
  EXPECT_DOUBLE_EQ(a.launch_overhead_us, b.launch_overhead_us);
  EXPECT_EQ(a.measured_at, b.measured_at);
  EXPECT_EQ(a.torch_version, b.torch_version);
}

nlohmann::json read_json(const std::filesystem::path& file) { return nlohmann::json::parse(test::read_text(file)); }

// Sets an environment variable for one scope, then puts the old value back.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST(Ceilings, MeasuredOnTheCpuAndCached) {
  test::ScratchDir dir;
  CeilingsCache cache(dir / "ceilings.json");
  const auto start = std::chrono::steady_clock::now();
  const auto c = ceilings_for(kCpu, DType::F32, cache);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  EXPECT_LT(seconds, 5.0);
  EXPECT_GT(c.matmul_tflops * 1e3, 1.0) << "GFLOP/s";
  EXPECT_LT(c.matmul_tflops, 100.0) << "no CPU here does 100 TFLOP/s: the timing is wrong";
  EXPECT_GT(c.copy_gbps, 0.5);
  EXPECT_LT(c.copy_gbps, 10000.0);
  EXPECT_GT(c.launch_overhead_us, 0.0);
  EXPECT_LT(c.launch_overhead_us, 1000.0);
  EXPECT_EQ(c.dtype, DType::F32);
  EXPECT_FALSE(c.device_name.empty());
  EXPECT_EQ(c.torch_version, torch_version());
  EXPECT_TRUE(std::regex_match(c.measured_at, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"))) << c.measured_at;

  // The second call reads the cache instead of measuring.
  const auto again_start = std::chrono::steady_clock::now();
  const auto again = ceilings_for(kCpu, DType::F32, cache);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - again_start).count(), 0.5);
  expect_same(again, c);
}

TEST(Ceilings, HalfPrecisionOnTheCpuRecordsWhatWasMeasured) {
  // libtorch 1.13 has no fp16 matmul on the CPU: the GEMM falls back to fp32
  // and says so. Newer libtorch measures fp16 itself.
  bool has_fp16_matmul = true;
  try {
    const auto a = torch::randn({4, 4}).to(torch::kHalf);
    (void)torch::matmul(a, a);
  } catch (const c10::Error&) {
    has_fp16_matmul = false;
  }
  const auto c = measure_ceilings(kCpu, DType::F16);
  EXPECT_EQ(c.dtype, has_fp16_matmul ? DType::F16 : DType::F32);
  EXPECT_GT(c.matmul_tflops, 0.0);
  EXPECT_GT(c.copy_gbps, 0.0);
}

TEST(Ceilings, MissingCudaDeviceIsADeviceError) {
  // cuda:99 exists nowhere; on a CPU libtorch no CUDA device does.
  EXPECT_THROW(measure_ceilings({DeviceKind::Cuda, 99}, DType::F16), DeviceError);
  test::ScratchDir dir;
  CeilingsCache cache(dir / "ceilings.json");
  EXPECT_THROW(ceilings_for({DeviceKind::Cuda, 99}, DType::F16, cache), DeviceError);
}

TEST(CeilingsCache, RoundTripKeyedByDeviceAndDtype) {
  test::ScratchDir dir;
  const auto file = dir / "nested" / "ceilings.json";  // folders are created on store
  CeilingsCache cache(file);
  EXPECT_FALSE(cache.find("GPU A", DType::F16));

  const auto a16 = random_ceilings("GPU A", DType::F16);
  const auto a32 = random_ceilings("GPU A", DType::F32);
  const auto b16 = random_ceilings("GPU B", DType::F16);
  cache.store(a16);
  cache.store(a32);
  cache.store(b16);

  // A fresh cache object reads the file.
  CeilingsCache reread(file);
  ASSERT_TRUE(reread.find("GPU A", DType::F16));
  expect_same(*reread.find("GPU A", DType::F16), a16);
  expect_same(*reread.find("GPU A", DType::F32), a32);
  expect_same(*reread.find("GPU B", DType::F16), b16);
  EXPECT_FALSE(reread.find("GPU B", DType::BF16));
  EXPECT_FALSE(reread.find("GPU C", DType::F16));
  EXPECT_EQ(read_json(file).at("entries").size(), 3u);
}

TEST(CeilingsCache, StoreReplacesTheSameKey) {
  test::ScratchDir dir;
  CeilingsCache cache(dir / "ceilings.json");
  cache.store(random_ceilings("GPU A", DType::BF16));
  const auto newer = random_ceilings("GPU A", DType::BF16);
  cache.store(newer);
  expect_same(*cache.find("GPU A", DType::BF16), newer);
  EXPECT_EQ(read_json(dir / "ceilings.json").at("entries").size(), 1u);
}

TEST(CeilingsCache, OtherLibtorchVersionsAreNotUsed) {
  test::ScratchDir dir;
  CeilingsCache cache(dir / "ceilings.json");
  auto old = random_ceilings("GPU A", DType::F16);
  old.torch_version = "0.0.1-not-this-one";
  cache.store(old);
  EXPECT_FALSE(cache.find("GPU A", DType::F16));
}

TEST(CeilingsCache, CorruptFileIsEmptyAndReplaced) {
  for (const std::string junk : {"{not json", "[1, 2, 3]", R"({"entries": [{"device_name": 5}]})", ""}) {
    test::ScratchDir dir;
    const auto file = dir / "ceilings.json";
    test::write_text(file, junk);
    CeilingsCache cache(file);
    EXPECT_FALSE(cache.find("GPU A", DType::F16)) << junk;
    const auto c = random_ceilings("GPU A", DType::F16);
    EXPECT_NO_THROW(cache.store(c)) << junk;
    ASSERT_TRUE(cache.find("GPU A", DType::F16)) << junk;
    expect_same(*cache.find("GPU A", DType::F16), c);
    EXPECT_EQ(read_json(file).at("entries").size(), 1u);
  }
}

TEST(CeilingsCache, FolderInTheWayIsAnIoErrorOnStore) {
  test::ScratchDir dir;
  std::filesystem::create_directories(dir / "ceilings.json");  // a folder where the file should be
  CeilingsCache cache(dir / "ceilings.json");
  EXPECT_FALSE(cache.find("GPU A", DType::F16));
  EXPECT_THROW(cache.store(random_ceilings("GPU A", DType::F16)), IoError);
}

TEST(CeilingsCache, DefaultFolder) {
  {
    ScopedEnv cache_dir("MLOPT_CACHE_DIR", "/somewhere/mlopt-cache");
    EXPECT_EQ(default_cache_dir(), std::filesystem::path("/somewhere/mlopt-cache"));
  }
  ScopedEnv no_cache_dir("MLOPT_CACHE_DIR", nullptr);
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "/xdg/cache");
    EXPECT_EQ(default_cache_dir(), std::filesystem::path("/xdg/cache/mlopt"));
  }
  ScopedEnv no_xdg("XDG_CACHE_HOME", nullptr);
  ScopedEnv home("HOME", "/home/someone");
  EXPECT_EQ(default_cache_dir(), std::filesystem::path("/home/someone/.cache/mlopt"));
}
