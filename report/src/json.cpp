// The JSON report (report/SCHEMA.md): the Report value as it is, times in
// milliseconds, shares as fractions.
#include <nlohmann/json.hpp>

#include <cmath>

#include "mlopt/report/writers.h"

namespace mlopt::report {
namespace {

using json = nlohmann::ordered_json;  // keys in the order written: the file reads top-down

// NaN and infinity are not JSON numbers: null, as nlohmann writes them anyway,
// but explicit so that the schema can say so.
json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json time_shares(const std::vector<TimeShare>& items) {
  json out = json::array();
  for (const auto& t : items) {
    out.push_back({{"name", t.name},
                   {"time_ms", number(t.time_ms)},
                   {"share", number(t.share)},
                   {"bound", t.bound},
                   {"potential_saving_ms", number(t.potential_saving_ms)}});
  }
  return out;
}

json run_json(const LatencyRun& r) {
  const auto& s = r.stats;
  json samples = json::array();
  for (const double v : r.samples_ms) samples.push_back(number(v));
  return {{"label", r.label},
          {"variant", r.variant},
          {"model", r.model_path},
          {"input_spec", r.input_spec},
          {"device", r.device},
          {"device_name", r.device_name},
          {"dtype", r.dtype},
          {"timer", r.timer},
          {"timestamp", r.timestamp},
          {"torch_version", r.torch_version},
          {"warmup", r.warmup},
          {"latency_ms",
           {{"count", s.count},
            {"median", number(s.median_ms)},
            {"mean", number(s.mean_ms)},
            {"p10", number(s.p10_ms)},
            {"q1", number(r.q1_ms)},
            {"q3", number(r.q3_ms)},
            {"p90", number(s.p90_ms)},
            {"min", number(s.min_ms)},
            {"max", number(s.max_ms)},
            {"stddev", number(s.stddev_ms)}}},
          {"samples_ms", std::move(samples)},
          {"tokens_per_forward", r.tokens_per_forward},
          {"tokens_per_second", number(r.tokens_per_second)},
          {"peak_memory_bytes", r.peak_memory_bytes >= 0 ? json(r.peak_memory_bytes) : json(nullptr)}};
}

json profile_json(const ProfileSection& p) {
  json ops = json::array();
  for (const auto& o : p.ops) {
    ops.push_back({{"name", o.name},
                   {"module", o.module},
                   {"category", o.category},
                   {"calls", number(o.calls)},
                   {"time_ms", number(o.time_ms)},
                   {"achieved_tflops", number(o.tflops)},
                   {"achieved_gbps", number(o.gbps)},
                   {"bound", o.bound},
                   {"share_of_ceiling", number(o.share_of_ceiling)}});
  }
  json kernels = json::array();
  for (const auto& k : p.kernels) {
    kernels.push_back({{"name", k.name},
                       {"op", k.op},
                       {"module", k.module},
                       {"category", k.category},
                       {"calls", number(k.calls)},
                       {"time_ms", number(k.time_ms)},
                       {"bound", k.bound},
                       {"share_of_ceiling", number(k.share_of_ceiling)}});
  }
  json recommendations = json::array();
  for (const auto& r : p.recommendations) {
    recommendations.push_back({{"transform", r.transform},
                               {"reason", r.reason},
                               {"saving_ms", number(r.saving_ms)},
                               {"speedup", number(r.speedup)},
                               {"modules", r.modules}});
  }
  json memory = json::array();
  for (const auto& m : p.memory) {
    memory.push_back({{"time_ms", number(m.time_ms)},
                      {"allocated_bytes", m.allocated_bytes},
                      {"reserved_bytes", m.reserved_bytes}});
  }
  const auto& c = p.ceilings;
  return {{"label", p.label},
          {"model", p.model_path},
          {"input_spec", p.input_spec},
          {"device", p.device},
          {"device_name", p.device_name},
          {"dtype", p.dtype},
          {"warmup", p.warmup},
          {"iterations", p.iterations},
          {"time_basis", p.time_basis},
          {"iteration_ms",
           {{"median", number(p.iteration_ms)},
            {"mean", number(p.mean_iteration_ms)},
            {"unprofiled_median", number(p.unprofiled_iteration_ms)}}},
          {"profiler_overhead", number(p.overhead)},
          {"gpu_busy_ms", number(p.gpu_busy_ms)},
          {"ceilings",
           {{"dtype", c.dtype},
            {"matmul_tflops", number(c.matmul_tflops)},
            {"copy_gbps", number(c.copy_gbps)},
            {"launch_overhead_us", number(c.launch_overhead_us)},
            {"measured_at", c.measured_at},
            {"torch_version", c.torch_version}}},
          {"categories", time_shares(p.categories)},
          {"modules", time_shares(p.modules)},
          {"total_modules", p.total_modules},
          {"ops", std::move(ops)},
          {"total_ops", p.total_ops},
          {"kernels", std::move(kernels)},
          {"total_kernels", p.total_kernels},
          {"recommendations", std::move(recommendations)},
          {"memory", {{"peak_bytes", p.peak_memory_bytes}, {"timeline", std::move(memory)}}},
          {"trust",
           {{"dropped_records", p.dropped_records},
            {"correlated_kernel_share", number(p.correlated_kernel_share)},
            {"attributed_op_share", number(p.attributed_op_share)}}}};
}

}  // namespace

std::string to_json(const Report& r, int indent) {
  json runs = json::array();
  for (const auto& run : r.runs) runs.push_back(run_json(run));
  json profiles = json::array();
  for (const auto& p : r.profiles) profiles.push_back(profile_json(p));
  const json j = {{"format", "mlopt-report"},
                  {"report_version", r.version},
                  {"title", r.title},
                  {"generated_at", r.generated_at},
                  {"mlopt_version", r.mlopt_version},
                  {"project",
                   {{"file", r.project_file},
                    {"model", r.model_path},
                    {"input_spec", r.input_spec},
                    {"device", r.device},
                    {"device_name", r.device_name},
                    {"dtype", r.dtype},
                    {"transforms", r.transforms}}},
                  // The project file's own record of each transform (core's JSON).
                  {"optimizations", json::parse(mlopt::to_json(r.optimizations))},
                  {"runs", std::move(runs)},
                  {"profiles", std::move(profiles)}};
  // Replace invalid UTF-8 (a path from another encoding) instead of throwing.
  return j.dump(indent, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace mlopt::report
