#include "device_timer.h"

#include <chrono>
#include <ctime>
#include <fstream>

#include "mlopt/core/environment.h"
#include "mlopt/core/error.h"

namespace mlopt {
namespace {

class SteadyClockTimer final : public IterationTimer {
 public:
  std::string name() const override { return "steady-clock"; }
  void start() override { begin_ = std::chrono::steady_clock::now(); }
  double stop_ms() override {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin_).count();
  }

 private:
  std::chrono::steady_clock::time_point begin_;
};

std::string cpu_model_name() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "CPU";
}

}  // namespace

std::unique_ptr<IterationTimer> make_iteration_timer(const Device& device) {
  if (device.kind == DeviceKind::Cuda) return make_cuda_timer(device.index);
  return std::make_unique<SteadyClockTimer>();
}

namespace {
class NoPeakMemory final : public PeakMemory {
 public:
  void begin() override {}
  std::optional<int64_t> peak_bytes() override { return std::nullopt; }
};
}  // namespace

std::unique_ptr<PeakMemory> make_peak_memory(const Device& device) {
  if (device.kind == DeviceKind::Cuda) return make_cuda_peak_memory(device.index);
  return std::make_unique<NoPeakMemory>();
}

std::string device_name(const Device& device) {
  if (device.kind == DeviceKind::Cuda) return cuda_device_name(device.index);
  return cpu_model_name();
}

std::string utc_timestamp() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

#if !MLOPT_TORCH_CUDA
// A CPU libtorch never loads a model onto CUDA (Model::load refuses), so
// reaching these is a programming error worth a clear message.
std::unique_ptr<IterationTimer> make_cuda_timer(int) {
  throw DeviceError("this build of mlopt has no CUDA support: build it against a CUDA libtorch (see README)");
}
std::string cuda_device_name(int) { return "CUDA (unavailable in this build)"; }
std::unique_ptr<PeakMemory> make_cuda_peak_memory(int) {
  throw DeviceError("this build of mlopt has no CUDA support: build it against a CUDA libtorch (see README)");
}
#endif

}  // namespace mlopt
