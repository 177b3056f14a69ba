#pragma once
// Projects to report on: the recorded H100 profile of the gpt2 sample
// (tests/data; re-analysed for its ops, kernels and modules, which the
// recording leaves out), the hand-made CPU and GPU profiles of the views'
// tests (tests/views/sample_profile.h, known numbers), and runs with known
// samples.
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "analysis.h"  // profiler/src: the same analysis `mlopt profile` runs
#include "mlopt/core/project.h"
#include "mlopt/core/stats.h"
#include "mlopt/profiler/profile_json.h"
#include "mlopt/report/report.h"
#include "sample_profile.h"

namespace mlopt::test {

inline ModuleInfo module_node(const std::string& name, const std::string& path, std::vector<ModuleInfo> children = {}) {
  ModuleInfo m;
  m.name = name;
  m.path = path;
  m.children = std::move(children);
  return m;
}

// `mlopt profile` of the gpt2 sample, fp16, 8 x 1024 tokens, on an H100.
inline const profiler::ProfileResult& recorded_gpu_profile() {
  static const profiler::ProfileResult profile = [] {
    std::ifstream in(std::string(MLOPT_TEST_DATA_DIR) + "/h100-gpt2-fp16-8x1024-profile.json");
    if (!in) throw std::runtime_error("missing tests/data/h100-gpt2-fp16-8x1024-profile.json");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto recorded = profiler::profile_from_json(text);
    // Its module tree as far as the analysis needs it: the repeated blocks.
    ModelInfo model;
    std::vector<ModuleInfo> blocks;
    for (int i = 0; i < 12; ++i) {
      const std::string n = std::to_string(i);
      blocks.push_back(module_node(n, "transformer.h." + n, {module_node("attn", "transformer.h." + n + ".attn")}));
    }
    model.root = module_node("", "", {module_node("transformer", "transformer", {module_node("h", "transformer.h", blocks)})});
    profiler::AnalysisInput input;
    input.model = &model;
    input.gpu = true;
    input.ceilings = recorded.ceilings;
    input.events = recorded.trace_ops;
    input.trace = recorded.trace_gpu;
    input.iteration_spans = {recorded.iteration_spans_ns.back()};
    profiler::ProfileResult analysed;
    profiler::analyze_profile(input, analysed);
    recorded.ops = analysed.ops;
    recorded.kernels = analysed.kernels;
    recorded.modules = analysed.modules;
    return recorded;
  }();
  return profile;
}

// A run whose samples are `base` plus a known spread.
inline RunResult sample_run(Device device, const std::string& device_name, DType dtype, double base, int count = 25) {
  RunResult r;
  r.model_path = "/models/gpt2.pt";
  r.spec = InputSpec::parse("ids:int64[8,1024]");
  r.device = device;
  r.device_name = device_name;
  r.dtype = dtype;
  r.timer = device.kind == DeviceKind::Cuda ? "cuda-events" : "steady-clock";
  r.warmup = 3;
  for (int i = 0; i < count; ++i) r.samples_ms.push_back(base + 0.013 * ((i * 7) % 11) + (i == 5 ? base * 0.2 : 0));
  r.stats = summarize(r.samples_ms);
  r.tokens_per_forward = r.spec.tokens_per_forward();
  r.tokens_per_second = static_cast<double>(r.tokens_per_forward) / (r.stats.median_ms / 1e3);
  r.torch_version = "2.11.0";
  r.timestamp = "2026-11-25T05:00:00Z";
  return r;
}

inline Project gpu_project() {
  Project p;
  p.model_path = "/models/gpt2.pt";
  p.input_spec = InputSpec::parse("ids:int64[8,1024]");
  p.device = Device{DeviceKind::Cuda, 0};
  p.dtype = DType::F16;
  p.transforms = {"flash_attention"};
  p.runs = {sample_run(p.device, "NVIDIA H100 80GB HBM3", DType::F16, 26.5),
            sample_run(p.device, "NVIDIA H100 80GB HBM3", DType::F16, 14.2)};
  p.profiles = {profiler::to_json(recorded_gpu_profile())};
  return p;
}

// The hand-made CPU profile, then the GPU one (kernels, two streams).
inline Project cpu_project() {
  Project p;
  p.model_path = "/models/gpt2.pt";
  p.input_spec = InputSpec::parse("ids:int64[1,16]");
  p.runs = {sample_run(Device{}, "Test CPU", DType::F32, 12.0, 10)};
  p.profiles = {profiler::to_json(sample_profile(false)), profiler::to_json(sample_profile(true))};
  return p;
}

inline report::ReportOptions fixed_options(int top = 20) {
  report::ReportOptions o;
  o.project_file = "/projects/gpt2.mlopt";
  o.generated_at = "2026-11-25T06:00:00Z";
  o.top = top;
  return o;
}

}  // namespace mlopt::test
