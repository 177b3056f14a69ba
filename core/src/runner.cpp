// Runner: warm-up, timed forwards, summary statistics.
#include <torch/script.h>

#include <chrono>
#include <ctime>

#include "device_timer.h"
#include "mlopt/core/environment.h"
#include "load_errors.h"
#include "mlopt/core/error.h"
#include "mlopt/core/torch_bridge.h"

namespace mlopt {
namespace {

std::string signature(const ModelInfo& info) {
  std::string s = "forward(";
  for (std::size_t i = 0; i < info.inputs.size(); ++i) s += (i ? ", " : "") + info.inputs[i].name;
  return s + ")";
}

}  // namespace

c10::IValue forward(const Model& model, std::vector<c10::IValue> inputs) {
  torch::jit::Module module = model.impl().frozen;  // a handle: no copy of the weights
  try {
    c10::InferenceMode inference;
    if (const auto& r = model.impl().replacement; r && r->fits(inputs)) return r->run(inputs);
    return module.forward(std::move(inputs));
  } catch (const std::exception& e) {
    const std::string msg = torch_message(e);
    if (is_out_of_memory(msg)) {
      throw OutOfMemoryError("out of memory on " + to_string(model.options().device) +
                             " running the model's forward: use a smaller batch or sequence, or --dtype fp16. " +
                             concise_message(msg));
    }
    std::string hint;
    if (model.options().device.kind == DeviceKind::Cpu && msg.find("not implemented for 'Half'") != std::string::npos) {
      hint = " (this libtorch lacks fp16 kernels on the CPU: use --dtype bf16 or fp32 there, or run on cuda)";
    }
    throw RuntimeError("the model's forward failed: " + concise_message(msg) + hint);
  }
}

RunResult run_with_inputs(const Model& model, const std::vector<c10::IValue>& inputs, const InputSpec& spec,
                          const RunOptions& options) {
  if (options.iterations < 1) throw UsageError("iterations must be at least 1");
  if (options.warmup < 0) throw UsageError("warm-up iterations cannot be negative");

  const Device device = model.options().device;
  auto timer = make_iteration_timer(device);
  RunResult result;
  result.model_path = model.info().path;
  result.spec = spec;
  result.device = device;
  result.device_name = device_name(device);
  result.dtype = model.info().dtype;
  result.timer = timer->name();
  result.warmup = options.warmup;
  result.tokens_per_forward = spec.tokens_per_forward();
  result.torch_version = torch_version();
  result.timestamp = utc_timestamp();

  bool first = true;
  auto call = [&]() {
    try {
      auto out = forward(model, inputs);
      first = false;
      return out;
    } catch (const RuntimeError& e) {
      // The first call is where a spec that does not fit the forward shows.
      if (!first) throw;
      throw InputSpecError(std::string(e.what()) + " — with inputs from the spec '" + spec.to_string() +
                           "'; check that its count, dtypes and ranks fit the model's " +
                           signature(model.info()));
    }
  };

  for (int i = 0; i < options.warmup; ++i) {
    if (options.observer) options.observer->on_iteration_begin(i, true);
    call();
    if (options.observer) options.observer->on_iteration_end(i, true);
  }
  c10::IValue last;
  result.samples_ms.reserve(static_cast<std::size_t>(options.iterations));
  auto memory = make_peak_memory(device);
  memory->begin();
  for (int i = 0; i < options.iterations; ++i) {
    if (options.observer) options.observer->on_iteration_begin(i, false);
    // Each forward starts on an idle device and is timed to its end, so
    // launch overhead counts as it does for a single request.
    timer->start();
    last = call();
    result.samples_ms.push_back(timer->stop_ms());
    if (options.observer) options.observer->on_iteration_end(i, false);
  }
  result.peak_memory_bytes = memory->peak_bytes();
  result.stats = summarize(result.samples_ms);
  result.tokens_per_second =
      result.stats.median_ms > 0 ? static_cast<double>(result.tokens_per_forward) / (result.stats.median_ms / 1e3) : 0;
  result.outputs = describe_outputs(last);
  return result;
}

RunResult run(const Model& model, const InputSpec& spec, const RunOptions& options) {
  return run_with_inputs(model, make_inputs(model, spec, options.seed), spec, options);
}

}  // namespace mlopt
