// The CSV report: one tidy table, section,name,metric,value,unit; one value
// per row (report/SCHEMA.md lists every section and metric).
#include <cstdint>

#include "mlopt/report/escape.h"
#include "mlopt/report/writers.h"

namespace mlopt::report {
namespace {

class Rows {
 public:
  Rows() { out_ = "section,name,metric,value,unit\n"; }
  void number(const std::string& section, const std::string& name, const char* metric, double value,
              const char* unit) {
    add(section, name, metric, exact_number(value), unit);
  }
  void integer(const std::string& section, const std::string& name, const char* metric, int64_t value,
               const char* unit) {
    add(section, name, metric, std::to_string(value), unit);
  }
  void text(const std::string& section, const std::string& name, const char* metric, const std::string& value) {
    add(section, name, metric, value, "text");
  }
  std::string take() { return std::move(out_); }

 private:
  void add(const std::string& section, const std::string& name, const char* metric, const std::string& value,
           const char* unit) {
    out_ += csv_field(section) + "," + csv_field(name) + "," + csv_field(metric) + "," + csv_field(value) + "," +
            csv_field(unit) + "\n";
  }
  std::string out_;
};

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : separator) + i;
  return out;
}

void time_shares(Rows& rows, const char* section, const std::string& label, const std::vector<TimeShare>& items) {
  for (const auto& t : items) {
    const std::string name = label + "/" + t.name;
    rows.number(section, name, "time", t.time_ms, "ms");
    rows.number(section, name, "share", t.share, "fraction");
    rows.text(section, name, "bound", t.bound);
    rows.number(section, name, "potential_saving", t.potential_saving_ms, "ms");
  }
}

std::string nth(const std::string& label, std::size_t i) { return label + "/#" + std::to_string(i + 1); }

}  // namespace

std::string to_csv(const Report& r) {
  Rows rows;
  rows.integer("report", "report", "report_version", r.version, "count");
  rows.text("report", "report", "title", r.title);
  rows.text("report", "report", "generated_at", r.generated_at);
  rows.text("report", "report", "mlopt_version", r.mlopt_version);

  rows.text("project", "project", "file", r.project_file);
  rows.text("project", "project", "model", r.model_path);
  rows.text("project", "project", "input_spec", r.input_spec);
  rows.text("project", "project", "device", r.device);
  rows.text("project", "project", "device_name", r.device_name);
  rows.text("project", "project", "dtype", r.dtype);
  rows.text("project", "project", "transforms", join(r.transforms, ";"));
  rows.integer("project", "project", "runs", static_cast<int64_t>(r.runs.size()), "count");
  rows.integer("project", "project", "profiles", static_cast<int64_t>(r.profiles.size()), "count");

  for (const auto& o : r.optimizations) {
    rows.text("optimization", o.transform, "kept", o.applied ? "yes" : "no");
    rows.integer("optimization", o.transform, "matched", static_cast<int64_t>(o.matched.size()), "count");
    rows.integer("optimization", o.transform, "left_alone", static_cast<int64_t>(o.missed.size()), "count");
    if (o.verification) rows.text("optimization", o.transform, "verification", o.verification->passed ? "passed" : "failed");
    rows.text("optimization", o.transform, "note", o.note);
  }
  for (const auto& run : r.runs) {
    const std::string& n = run.label;
    rows.text("run", n, "variant", run.variant);
    rows.text("run", n, "model", run.model_path);
    rows.text("run", n, "input_spec", run.input_spec);
    rows.text("run", n, "device", run.device);
    rows.text("run", n, "device_name", run.device_name);
    rows.text("run", n, "dtype", run.dtype);
    rows.text("run", n, "timer", run.timer);
    rows.text("run", n, "timestamp", run.timestamp);
    rows.text("run", n, "torch_version", run.torch_version);
    rows.integer("run", n, "warmup", run.warmup, "count");
    rows.integer("run", n, "iterations", run.stats.count, "count");
    rows.number("run", n, "median", run.stats.median_ms, "ms");
    rows.number("run", n, "mean", run.stats.mean_ms, "ms");
    rows.number("run", n, "p10", run.stats.p10_ms, "ms");
    rows.number("run", n, "q1", run.q1_ms, "ms");
    rows.number("run", n, "q3", run.q3_ms, "ms");
    rows.number("run", n, "p90", run.stats.p90_ms, "ms");
    rows.number("run", n, "min", run.stats.min_ms, "ms");
    rows.number("run", n, "max", run.stats.max_ms, "ms");
    rows.number("run", n, "stddev", run.stats.stddev_ms, "ms");
    rows.integer("run", n, "tokens_per_forward", run.tokens_per_forward, "count");
    rows.number("run", n, "tokens_per_second", run.tokens_per_second, "tokens/s");
    if (run.peak_memory_bytes >= 0) rows.integer("run", n, "peak_memory_bytes", run.peak_memory_bytes, "bytes");
    for (std::size_t i = 0; i < run.samples_ms.size(); ++i) {
      rows.number("run sample", nth(n, i), "latency", run.samples_ms[i], "ms");
    }
  }

  for (const auto& p : r.profiles) {
    const std::string& n = p.label;
    rows.text("profile", n, "model", p.model_path);
    rows.text("profile", n, "input_spec", p.input_spec);
    rows.text("profile", n, "device", p.device);
    rows.text("profile", n, "device_name", p.device_name);
    rows.text("profile", n, "dtype", p.dtype);
    rows.integer("profile", n, "warmup", p.warmup, "count");
    rows.integer("profile", n, "iterations", p.iterations, "count");
    rows.text("profile", n, "time_basis", p.time_basis);
    rows.number("profile", n, "iteration_median", p.iteration_ms, "ms");
    rows.number("profile", n, "iteration_mean", p.mean_iteration_ms, "ms");
    rows.number("profile", n, "unprofiled_iteration_median", p.unprofiled_iteration_ms, "ms");
    rows.number("profile", n, "profiler_overhead", p.overhead, "fraction");
    rows.number("profile", n, "gpu_busy", p.gpu_busy_ms, "ms");
    rows.integer("profile", n, "peak_memory", p.peak_memory_bytes, "bytes");
    rows.integer("profile", n, "dropped_records", p.dropped_records, "count");
    rows.number("profile", n, "correlated_kernel_share", p.correlated_kernel_share, "fraction");
    rows.number("profile", n, "attributed_op_share", p.attributed_op_share, "fraction");
    rows.integer("profile", n, "modules", p.total_modules, "count");
    rows.integer("profile", n, "ops", p.total_ops, "count");
    rows.integer("profile", n, "kernels", p.total_kernels, "count");
    rows.text("ceilings", n, "dtype", p.ceilings.dtype);
    rows.number("ceilings", n, "matmul", p.ceilings.matmul_tflops, "TFLOP/s");
    rows.number("ceilings", n, "copy", p.ceilings.copy_gbps, "GB/s");
    rows.number("ceilings", n, "launch_overhead", p.ceilings.launch_overhead_us, "us");
    rows.text("ceilings", n, "measured_at", p.ceilings.measured_at);
    rows.text("ceilings", n, "torch_version", p.ceilings.torch_version);

    time_shares(rows, "category", n, p.categories);
    time_shares(rows, "module", n, p.modules);
    for (std::size_t i = 0; i < p.ops.size(); ++i) {
      const auto& o = p.ops[i];
      const std::string name = nth(n, i);
      rows.text("op", name, "op", o.name);
      rows.text("op", name, "module", o.module);
      rows.text("op", name, "category", o.category);
      rows.number("op", name, "calls", o.calls, "count");
      rows.number("op", name, "time", o.time_ms, "ms");
      rows.number("op", name, "achieved", o.tflops, "TFLOP/s");
      rows.number("op", name, "bandwidth", o.gbps, "GB/s");
      rows.text("op", name, "bound", o.bound);
      rows.number("op", name, "share_of_ceiling", o.share_of_ceiling, "fraction");
    }
    for (std::size_t i = 0; i < p.kernels.size(); ++i) {
      const auto& k = p.kernels[i];
      const std::string name = nth(n, i);
      rows.text("kernel", name, "kernel", k.name);
      rows.text("kernel", name, "op", k.op);
      rows.text("kernel", name, "module", k.module);
      rows.text("kernel", name, "category", k.category);
      rows.number("kernel", name, "calls", k.calls, "count");
      rows.number("kernel", name, "time", k.time_ms, "ms");
      rows.text("kernel", name, "bound", k.bound);
      rows.number("kernel", name, "share_of_ceiling", k.share_of_ceiling, "fraction");
    }
    for (std::size_t i = 0; i < p.recommendations.size(); ++i) {
      const auto& rec = p.recommendations[i];
      const std::string name = nth(n, i);
      rows.text("recommendation", name, "transform", rec.transform);
      rows.number("recommendation", name, "saving", rec.saving_ms, "ms");
      rows.number("recommendation", name, "speedup", rec.speedup, "x");
      rows.text("recommendation", name, "modules", join(rec.modules, ";"));
      rows.text("recommendation", name, "reason", rec.reason);
    }
    for (std::size_t i = 0; i < p.memory.size(); ++i) {
      const auto& m = p.memory[i];
      const std::string name = nth(n, i);
      rows.number("memory", name, "time", m.time_ms, "ms");
      rows.integer("memory", name, "allocated", m.allocated_bytes, "bytes");
      rows.integer("memory", name, "reserved", m.reserved_bytes, "bytes");
    }
  }
  return rows.take();
}

}  // namespace mlopt::report
