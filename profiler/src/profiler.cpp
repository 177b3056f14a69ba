// profile(): baseline timing, ceilings, profiled iterations, analysis.
#include "mlopt/profiler/profiler.h"

#include <torch/cuda.h>
#include <torch/script.h>

#include <algorithm>

#include "analysis.h"
#include "mlopt/core/error.h"
#include "mlopt/core/stats.h"
#include "mlopt/core/torch_bridge.h"
#include "op_collector.h"

namespace mlopt::profiler {
namespace {

void synchronize(const Device& device) {
  if (device.kind == DeviceKind::Cuda) torch::cuda::synchronize(device.index);
}

std::unique_ptr<ActivitySource> gpu_source(const Device& device, const ProfileOptions& options) {
  if (device.kind != DeviceKind::Cuda || !options.gpu_trace) return nullptr;
  if (!cupti_available()) {
    throw DeviceError("GPU tracing needs CUPTI, which this build of mlopt lacks: rebuild with the CUDA toolkit "
                      "(MLOPT_WITH_CUDA=ON) or profile without the GPU trace (--no-gpu-trace)");
  }
  try {
    return make_cupti_source();
  } catch (const std::exception& e) {
    throw DeviceError(std::string("cannot start GPU tracing: ") + e.what());
  }
}

// Memory over the last iteration, and the allocation level just before it
// (weights and inputs) as its first sample.
std::vector<MemorySample> last_iteration_memory(std::vector<MemorySample> samples,
                                                const std::pair<int64_t, int64_t>& span) {
  std::vector<MemorySample> out;
  MemorySample before{span.first, 0, 0};
  bool have_before = false;
  for (const auto& s : samples) {
    if (s.time_ns < span.first) {
      before = {span.first, s.allocated_bytes, s.reserved_bytes};
      have_before = true;
    } else if (s.time_ns < span.second) {
      out.push_back(s);
    }
  }
  if (have_before) out.insert(out.begin(), before);
  return out;
}

// Counts forwards and asks options.progress whether to go on.
class Progress : public RunObserver {
 public:
  explicit Progress(const ProfileOptions& options) : callback_(options.progress), total_(progress_total(options)) {}

  // One more forward done (or none yet, for the first call).
  void step(bool counted = true) {
    if (counted) ++done_;
    if (callback_ && !callback_(done_, total_)) throw Cancelled("profiling was cancelled");
  }
  void on_iteration_end(int, bool) override { step(); }

 private:
  const std::function<bool(int, int)>& callback_;
  int total_;
  int done_ = 0;
};

}  // namespace

int progress_total(const ProfileOptions& options) { return options.warmup + 2 * options.iterations + 1; }

ProfileResult profile(const Model& model, const InputSpec& spec, const ProfileOptions& options) {
  if (options.iterations < 1) throw UsageError("profiling needs at least 1 iteration");
  if (options.warmup < 0) throw UsageError("warm-up iterations cannot be negative");
  const Device device = model.options().device;
  const bool gpu = device.kind == DeviceKind::Cuda;

  ProfileResult out;
  out.model_path = model.info().path;
  out.spec = spec;
  out.device = device;
  out.dtype = model.info().dtype;
  out.warmup = options.warmup;
  out.iterations = options.iterations;

  Progress progress(options);
  progress.step(false);

  // The un-profiled baseline, on the same inputs, also serves as warm-up.
  const auto inputs = make_inputs(model, spec, options.seed);
  const RunResult baseline = run_with_inputs(
      model, inputs, spec, {.warmup = options.warmup, .iterations = options.iterations, .observer = &progress});
  out.device_name = baseline.device_name;
  out.unprofiled_iteration_us = baseline.stats.median_ms * 1e3;

  CeilingsCache default_cache;
  out.ceilings = ceilings_for(device, out.dtype, options.cache ? *options.cache : default_cache);

  auto source = gpu_source(device, options);
  OpCollector collector(source.get());
  std::vector<std::pair<int64_t, int64_t>> spans;
  ActivityTrace trace;
  if (source) {
    try {
      source->start();
    } catch (const std::exception& e) {
      throw DeviceError(std::string("cannot start GPU tracing: ") + e.what());
    }
  }
  // On an error the source's destructor stops CUPTI without throwing over it.
  // Iteration -1 is traced but not counted: the first traced forward pays
  // for CUPTI's buffers and the callbacks' first allocations.
  for (int i = -1; i < options.iterations; ++i) {
    synchronize(device);
    const int64_t begin = collector.now_ns();
    collector.begin_iteration(i);
    try {
      forward(model, inputs);
    } catch (...) {
      collector.end_iteration();
      throw;
    }
    collector.end_iteration();
    synchronize(device);
    if (i >= 0) spans.emplace_back(begin, collector.now_ns());
    // Stopping here leaves no op open: the collector's and the source's
    // destructors unhook and stop them as on any other error.
    progress.step();
  }
  if (source) trace = source->stop();

  std::vector<double> iteration_us;
  for (const auto& [b, e] : spans) iteration_us.push_back(static_cast<double>(e - b) / 1e3);
  out.iteration_us = percentile(iteration_us, 50);
  out.mean_iteration_us = summarize(iteration_us).mean_ms;  // µs in, µs out
  out.overhead = out.unprofiled_iteration_us > 0 ? out.iteration_us / out.unprofiled_iteration_us - 1 : 0;
  out.peak_memory_bytes = collector.peak_allocated_bytes();
  out.memory = last_iteration_memory(collector.take_memory(), spans.back());

  AnalysisInput input;
  input.model = &model.info();
  input.gpu = gpu && source != nullptr;
  input.ceilings = out.ceilings;
  input.events = collector.take_events();
  std::erase_if(input.events, [](const OpEvent& e) { return e.iteration < 0; });
  input.trace = std::move(trace);
  input.iteration_spans = spans;
  input.module_depth = options.module_depth;
  input.visible_devices = gpu ? static_cast<int>(torch::cuda::device_count()) : 1;
  input.device = gpu ? device.index : 0;
  analyze_profile(std::move(input), out);
  return out;
}

}  // namespace mlopt::profiler
