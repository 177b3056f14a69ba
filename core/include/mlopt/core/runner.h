#pragma once
// Runner: warm up, then time N forwards. On CUDA each forward is timed with
// CUDA events on the current stream; on the CPU with a steady clock.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mlopt/core/dtype.h"
#include "mlopt/core/input_spec.h"
#include "mlopt/core/model.h"
#include "mlopt/core/stats.h"

namespace mlopt {

// One tensor among a forward's outputs (a tensor, or nested tuple/list/dict).
struct OutputInfo {
  std::string name;  // "output", "output[0]", "output['logits']"
  std::vector<int64_t> shape;
  DType dtype = DType::F32;
  bool all_finite = true;
  bool operator==(const OutputInfo&) const = default;
};

// Lets a profiler see iteration boundaries without core depending on it.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void on_iteration_begin(int /*index*/, bool /*warmup*/) {}
  virtual void on_iteration_end(int /*index*/, bool /*warmup*/) {}
};

struct RunOptions {
  int warmup = 3;
  int iterations = 20;
  uint64_t seed = 0;
  RunObserver* observer = nullptr;  // not owned; may be null
};

struct RunResult {
  std::string model_path;
  // Which form of the model ran: empty for the model as loaded, else the
  // transforms applied ("flash_attention+fused_mlp"); compare sets it.
  std::string variant;
  InputSpec spec;
  Device device;
  std::string device_name;  // "NVIDIA H100 80GB HBM3", or the CPU's model name
  DType dtype = DType::F32;
  std::string timer;        // "cuda-events" or "steady-clock"
  int warmup = 0;
  std::vector<double> samples_ms;  // one per timed iteration, in order
  LatencyStats stats;
  int64_t tokens_per_forward = 0;
  double tokens_per_second = 0;    // tokens_per_forward / median
  // Most bytes allocated at once during the timed forwards (weights and
  // inputs included): the CUDA caching allocator's peak. Empty on the CPU,
  // whose allocator keeps no statistics.
  std::optional<int64_t> peak_memory_bytes;
  std::vector<OutputInfo> outputs;
  std::string torch_version;
  std::string timestamp;           // UTC, ISO 8601
};

// Builds inputs from the spec on the model's device and times the forward.
// Throws InputSpecError when the spec does not fit the forward,
// OutOfMemoryError, DeviceError, RuntimeError.
RunResult run(const Model& model, const InputSpec& spec, const RunOptions& options = {});

}  // namespace mlopt
