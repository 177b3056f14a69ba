#include "mlopt/report/report.h"

#include <algorithm>

#include "mlopt/core/environment.h"
#include "mlopt/core/error.h"
#include "mlopt/profiler/profile_json.h"

namespace mlopt::report {
namespace {

double ms(double us) { return us / 1e3; }

LatencyRun latency_run(const RunResult& r, std::size_t index) {
  LatencyRun run;
  run.label = "run " + std::to_string(index + 1);
  run.variant = r.variant;
  run.model_path = r.model_path;
  run.input_spec = r.spec.to_string();
  run.device = to_string(r.device);
  run.device_name = r.device_name;
  run.dtype = to_string(r.dtype);
  run.timer = r.timer;
  run.timestamp = r.timestamp;
  run.torch_version = r.torch_version;
  run.warmup = r.warmup;
  run.samples_ms = r.samples_ms;
  // Recomputed from the samples where there are any, so the box, the
  // whiskers and the table always agree; a run stored without samples
  // keeps its recorded statistics.
  run.stats = r.samples_ms.empty() ? r.stats : summarize(r.samples_ms);
  run.q1_ms = r.samples_ms.empty() ? run.stats.p10_ms : percentile(r.samples_ms, 25);
  run.q3_ms = r.samples_ms.empty() ? run.stats.p90_ms : percentile(r.samples_ms, 75);
  run.tokens_per_forward = r.tokens_per_forward;
  run.tokens_per_second = r.tokens_per_second;
  run.peak_memory_bytes = r.peak_memory_bytes.value_or(-1);
  return run;
}

// The `top` longest rows (all when 0). The profiler sorts by its own
// measure, which on a GPU is not always the kernel time shown here; stable,
// so ties keep its order.
template <class Row>
std::vector<Row> top_rows(std::vector<Row> rows, int top) {
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.time_ms > b.time_ms; });
  if (top > 0 && rows.size() > static_cast<std::size_t>(top)) rows.resize(static_cast<std::size_t>(top));
  return rows;
}

TimeShare time_share(const std::string& name, double time_us, double share, profiler::Bound bound,
                     double saving_us) {
  return {name, ms(time_us), share, profiler::to_string(bound), ms(saving_us)};
}

ProfileSection profile_section(const profiler::ProfileResult& p, std::size_t index, int top) {
  ProfileSection s;
  s.label = "profile " + std::to_string(index + 1);
  s.model_path = p.model_path;
  s.input_spec = p.spec.to_string();
  s.device = to_string(p.device);
  s.device_name = p.device_name;
  s.dtype = to_string(p.dtype);
  s.warmup = p.warmup;
  s.iterations = p.iterations;
  // The profiler attributes GPU time to ops when kernels were traced, else
  // their CPU time; the CLI decides the same way.
  const bool gpu = p.gpu_busy_us > 0;
  s.time_basis = gpu ? "gpu" : "cpu";
  s.iteration_ms = ms(p.iteration_us);
  s.mean_iteration_ms = ms(p.mean_iteration_us);
  s.unprofiled_iteration_ms = ms(p.unprofiled_iteration_us);
  s.overhead = p.overhead;
  s.gpu_busy_ms = ms(p.gpu_busy_us);
  const auto& c = p.ceilings;
  s.ceilings = {to_string(c.dtype), c.matmul_tflops, c.copy_gbps, c.launch_overhead_us, c.measured_at,
                c.torch_version};
  for (const auto& cat : p.categories) {
    s.categories.push_back(time_share(cat.category, cat.time_us, cat.share, cat.bound, cat.potential_saving_us));
  }
  std::vector<TimeShare> modules;
  for (const auto& m : p.modules) {
    modules.push_back(time_share(m.module_path, m.time_us, m.share, m.bound, m.potential_saving_us));
  }
  s.total_modules = static_cast<int>(modules.size());
  s.modules = top_rows(std::move(modules), top);

  std::vector<OpRow> ops;
  for (const auto& o : p.ops) {
    ops.push_back({o.name, o.module_path, o.category, o.calls, ms(gpu ? o.gpu_us : o.cpu_total_us),
                   o.roofline.achieved_tflops, o.roofline.achieved_gbps, profiler::to_string(o.roofline.bound),
                   o.roofline.share_of_ceiling});
  }
  s.total_ops = static_cast<int>(ops.size());
  s.ops = top_rows(std::move(ops), top);

  std::vector<KernelRow> kernels;
  for (const auto& k : p.kernels) {
    kernels.push_back({k.name, k.op, k.module_path, k.category, k.calls, ms(k.gpu_us),
                       profiler::to_string(k.roofline.bound), k.roofline.share_of_ceiling});
  }
  s.total_kernels = static_cast<int>(kernels.size());
  s.kernels = top_rows(std::move(kernels), top);

  for (const auto& r : p.recommendations) {
    s.recommendations.push_back({r.transform, r.reason, ms(r.expected_saving_us), r.expected_speedup, r.modules});
  }
  s.peak_memory_bytes = p.peak_memory_bytes;
  if (!p.memory.empty()) {
    const int64_t t0 = p.memory.front().time_ns;
    for (const auto& m : p.memory) {
      s.memory.push_back({static_cast<double>(m.time_ns - t0) / 1e6, m.allocated_bytes, m.reserved_bytes});
    }
  }
  s.dropped_records = p.dropped_records;
  s.correlated_kernel_share = p.correlated_kernel_share;
  s.attributed_op_share = p.attributed_op_share;
  return s;
}

}  // namespace

std::string mlopt_version() { return MLOPT_VERSION; }

Report build_report(const Project& project, const ReportOptions& options) {
  if (options.top < 0) throw UsageError("the number of top modules, ops and kernels must be 0 (all) or more, not " +
                                        std::to_string(options.top));
  Report report;
  report.generated_at = options.generated_at.empty() ? utc_timestamp() : options.generated_at;
  report.mlopt_version = mlopt_version();
  report.project_file = options.project_file.string();
  report.model_path = project.model_path.string();
  const std::string model_name = project.model_path.filename().string();
  report.title = model_name.empty() ? "mlopt report" : "mlopt report: " + model_name;
  report.input_spec = project.input_spec.to_string();
  report.device = to_string(project.device);
  report.dtype = to_string(project.dtype);
  report.transforms = project.transforms;
  report.optimizations = project.optimizations;

  for (std::size_t i = 0; i < project.runs.size(); ++i) report.runs.push_back(latency_run(project.runs[i], i));
  for (std::size_t i = 0; i < project.profiles.size(); ++i) {
    profiler::ProfileResult profile;
    try {
      profile = profiler::profile_from_json(project.profiles[i]);
    } catch (const Error& e) {
      throw ProjectError("profile " + std::to_string(i + 1) + " of the project " +
                         (report.project_file.empty() ? std::string() : "'" + report.project_file + "' ") +
                         "cannot be read: " + e.what() + ". Profile the model again to replace it.");
    }
    report.profiles.push_back(profile_section(profile, i, options.top));
  }

  // The device's name, from the latest result that ran on the project's device.
  for (auto it = report.profiles.rbegin(); it != report.profiles.rend() && report.device_name.empty(); ++it) {
    if (it->device == report.device) report.device_name = it->device_name;
  }
  for (auto it = report.runs.rbegin(); it != report.runs.rend() && report.device_name.empty(); ++it) {
    if (it->device == report.device) report.device_name = it->device_name;
  }
  return report;
}

}  // namespace mlopt::report
