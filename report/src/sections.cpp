#include "sections.h"

#include <cctype>
#include <iomanip>
#include <sstream>

#include "mlopt/core/units.h"

namespace mlopt::report::detail {
namespace {

std::string ms(double v) { return fixed(v, 3); }
std::string pct(double share) { return fixed(100 * share, 1) + "%"; }
std::string count(double calls) { return fixed(calls, calls == static_cast<double>(static_cast<int64_t>(calls)) ? 0 : 1); }

std::string device_text(const std::string& device, const std::string& name) {
  return name.empty() ? device : device + " (" + name + ")";
}

// Where a recommendation applies: a few modules, then how many more.
std::string where(const std::vector<std::string>& modules) {
  constexpr std::size_t kShown = 3;
  if (modules.empty()) return "the whole model";
  std::string out;
  for (std::size_t i = 0; i < modules.size() && i < kShown; ++i) out += (i ? ", " : "") + modules[i];
  if (modules.size() > kShown) out += " and " + std::to_string(modules.size() - kShown) + " more";
  return out;
}

Table make_table(std::string id, std::string title, std::vector<Column> columns, std::string empty = "",
                 std::string note = "") {
  Table t;
  t.id = std::move(id);
  t.title = std::move(title);
  t.note = std::move(note);
  t.columns = std::move(columns);
  t.empty = std::move(empty);
  return t;
}

Table time_table(std::string id, std::string title, const std::string& first,
                 const std::vector<TimeShare>& items, std::string empty) {
  Table t = make_table(std::move(id), std::move(title),
                       {{first, false, 40}, {"ms", true, 15}, {"share", true, 15}, {"bound", false, 15},
                        {"saving ms", true, 15}},
                       std::move(empty));
  for (const auto& i : items) {
    t.rows.push_back({i.name.empty() ? "(root)" : i.name, ms(i.time_ms), pct(i.share), i.bound,
                      ms(i.potential_saving_ms)});
  }
  return t;
}

std::string top_note(std::size_t shown, int total, const char* what) {
  if (total <= 0) return "";
  if (static_cast<int>(shown) >= total) return "All " + std::to_string(total) + " " + what + ", by time.";
  return "The " + std::to_string(shown) + " longest of " + std::to_string(total) + " " + what + ".";
}

}  // namespace

std::string short_kernel_name(const std::string& name, std::size_t max_chars) {
  std::string s = name.rfind("void ", 0) == 0 ? name.substr(5) : name;
  std::size_t chars = 0, cut = 0;
  for (; cut < s.size(); ++cut) {
    if ((static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) continue;  // inside a UTF-8 character
    if (chars++ == max_chars - 1) break;
  }
  if (cut >= s.size()) return s;
  return s.substr(0, cut) + "\xE2\x80\xA6";
}

std::string generated_line(const Report& r) {
  return "Generated " + r.generated_at + " by mlopt " + r.mlopt_version + ".";
}

Facts project_facts(const Report& r) {
  std::string transforms;
  for (const auto& t : r.transforms) transforms += (transforms.empty() ? "" : ", ") + t;
  return {{"Project", r.project_file.empty() ? "(not saved)" : r.project_file},
          {"Model", r.model_path.empty() ? "(none)" : r.model_path},
          {"Inputs", r.input_spec.empty() ? "(none)" : r.input_spec},
          {"Device", device_text(r.device, r.device_name)},
          {"Data type", r.dtype},
          {"Transforms", transforms.empty() ? "none" : transforms},
          {"Runs", std::to_string(r.runs.size())},
          {"Profiles", std::to_string(r.profiles.size())}};
}

std::string latency_title() { return "Latency"; }

std::string runs_missing_text() {
  return "No runs recorded. Time the model into this project with: mlopt run MODEL --input SPEC --project "
         "PROJECT.mlopt";
}

std::vector<Table> runs_tables(const Report& r) {
  if (r.runs.empty()) return {};
  Table runs = make_table("runs", "Runs",
                          {{"run", false, 8}, {"device", false, 21}, {"dtype", false, 7}, {"inputs", false, 18},
                           {"iterations", true, 10}, {"warm-up", true, 9}, {"tokens/s", true, 14},
                           {"peak memory", true, 11}, {"recorded", false, 13}});
  Table latency = make_table("latency-ms", "Milliseconds per forward", {{"run", false, 16}}, "",
                             "Over the timed iterations of each run, after its warm-up.");
  for (const char* stat : {"median", "mean", "p10", "p90", "min", "max", "stddev"}) {
    latency.columns.push_back({stat, true, 12});
  }
  for (const auto& run : r.runs) {
    const auto& s = run.stats;
    runs.rows.push_back({run_name(run), device_text(run.device, run.device_name), run.dtype, run.input_spec,
                         std::to_string(s.count), std::to_string(run.warmup), fixed(run.tokens_per_second, 1),
                         run.peak_memory_bytes >= 0 ? human_bytes(run.peak_memory_bytes) : "n/a", run.timestamp});
    latency.rows.push_back({run_name(run), ms(s.median_ms), ms(s.mean_ms), ms(s.p10_ms), ms(s.p90_ms), ms(s.min_ms),
                            ms(s.max_ms), ms(s.stddev_ms)});
  }
  return {runs, latency};
}

std::string run_name(const LatencyRun& run) {
  return run.variant.empty() ? run.label : run.label + " [" + run.variant + "]";
}

std::string optimizations_title() { return "Optimizations"; }

std::vector<Table> optimization_tables(const Report& r) {
  if (r.optimizations.empty()) return {};
  Table summary = make_table("optimizations", "Transforms",
                             {{"transform", false, 16}, {"kept", false, 8}, {"matched", true, 10},
                              {"left alone", true, 10}, {"verification", false, 36}, {"note", false, 20}},
                             "", "Each transform is checked against the model before it on random inputs and kept "
                                 "only when every output matches within the tolerance.");
  Table missed = make_table("left-alone", "Left alone",
                            {{"transform", false, 16}, {"module", false, 28}, {"op", false, 16}, {"reason", false, 40}});
  for (const auto& o : r.optimizations) {
    std::string verification = "not run (nothing matched)";
    if (o.verification) {
      const auto& v = *o.verification;
      if (!v.error.empty()) {
        verification = "failed: " + v.error;
      } else {
        double worst = 0, tolerance = 0;
        for (const auto& c : v.outputs) {
          if (c.error >= worst) {
            worst = c.error;
            tolerance = c.tolerance;
          }
        }
        std::ostringstream text;
        text << (v.passed ? "passed" : "FAILED") << ": worst error " << std::scientific << std::setprecision(1)
             << worst << " (tolerance " << tolerance << ")";
        verification = text.str();
      }
    }
    summary.rows.push_back({o.transform, o.applied ? "yes" : "no", std::to_string(o.matched.size()),
                            std::to_string(o.missed.size()), verification, o.note});
    for (const auto& m : o.missed) missed.rows.push_back({o.transform, m.module.empty() ? "(root)" : m.module, m.op, m.reason});
  }
  std::vector<Table> tables = {summary};
  if (!missed.rows.empty()) tables.push_back(missed);
  return tables;
}

std::string profiles_missing_text() {
  return "No profiles recorded. Profile the model into this project with: mlopt profile MODEL --input SPEC "
         "--project PROJECT.mlopt";
}

std::string profile_heading(const ProfileSection& p) {
  std::string h = p.label;
  h[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(h[0])));
  return h + ": " + (p.device_name.empty() ? p.device : p.device_name) + ", " + p.input_spec + ", " + p.dtype;
}

Facts profile_facts(const ProfileSection& p) {
  Facts f{{"Model", p.model_path},
          {"Device", device_text(p.device, p.device_name)},
          {"Inputs", p.input_spec + " (" + p.dtype + ")"},
          {"Iteration", ms(p.iteration_ms) + " ms median, " + ms(p.mean_iteration_ms) + " ms mean over " +
                            std::to_string(p.iterations) + " profiled iterations (after " + std::to_string(p.warmup) +
                            " warm-up)"},
          {"Profiler overhead", pct(p.overhead) + " (" + ms(p.unprofiled_iteration_ms) +
                                    " ms median without the profiler)"}};
  if (p.time_basis == "gpu") {
    f.push_back({"GPU", "busy " + ms(p.gpu_busy_ms) + " ms per iteration; " + pct(p.correlated_kernel_share) +
                            " of kernel time traced to its op; " + std::to_string(p.dropped_records) +
                            " records dropped"});
  }
  f.push_back({"Peak memory", human_bytes(p.peak_memory_bytes) + " allocated"});
  const auto& c = p.ceilings;
  f.push_back({"Ceilings", fixed(c.matmul_tflops, 1) + " TFLOP/s " + c.dtype + " GEMM, " + fixed(c.copy_gbps, 0) +
                               " GB/s copy, " + fixed(c.launch_overhead_us, 1) + " us per tiny op (measured " +
                               (c.measured_at.empty() ? "at an unknown time" : c.measured_at) +
                               (c.torch_version.empty() ? "" : ", libtorch " + c.torch_version) + ")"});
  f.push_back({"Op times", p.time_basis == "gpu" ? "GPU time of the kernels each op launched"
                                                  : "CPU wall time inside each op, children included"});
  return f;
}

std::vector<Table> profile_tables(const ProfileSection& p) {
  std::vector<Table> tables;
  tables.push_back(time_table("categories", "Where the time goes", "category", p.categories,
                              "No categories recorded."));
  tables.back().note = "Mean per iteration; the categories add up to the iteration. Saving: time above the "
                       "roofline floor at a realistic efficiency.";
  tables.push_back(time_table("modules", "Modules", "module", p.modules, "No modules recorded."));
  tables.back().note = top_note(p.modules.size(), p.total_modules, "modules");

  Table ops = make_table("ops", std::string("Top ops (") + (p.time_basis == "gpu" ? "GPU" : "CPU") + " time)",
                         {{"#", true, 5}, {"op", false, 15}, {"module", false, 17}, {"category", false, 11},
                          {"calls", true, 6}, {"ms", true, 9}, {"TFLOP/s", true, 9}, {"GB/s", true, 7},
                          {"bound", false, 11}, {"of ceiling", true, 10}},
                         "No ops recorded.", top_note(p.ops.size(), p.total_ops, "ops"));
  for (std::size_t i = 0; i < p.ops.size(); ++i) {
    const auto& o = p.ops[i];
    ops.rows.push_back({std::to_string(i + 1), o.name, o.module.empty() ? "(root)" : o.module, o.category,
                        count(o.calls), ms(o.time_ms), fixed(o.tflops, 2), fixed(o.gbps, 0), o.bound,
                        pct(o.share_of_ceiling)});
  }
  tables.push_back(std::move(ops));

  Table kernels = make_table("kernels", "Top kernels",
                             {{"#", true, 5}, {"kernel", false, 34}, {"op", false, 13}, {"module", false, 15},
                              {"calls", true, 6}, {"ms", true, 8}, {"bound", false, 10}, {"of ceiling", true, 9}},
                             p.time_basis == "gpu" ? "No kernels recorded." : "No kernels: a CPU profile.",
                             top_note(p.kernels.size(), p.total_kernels, "kernels"));
  kernels.long_names = true;
  for (std::size_t i = 0; i < p.kernels.size(); ++i) {
    const auto& k = p.kernels[i];
    const std::string shown = short_kernel_name(k.name);
    kernels.row_titles.push_back(shown == k.name ? "" : k.name);
    kernels.rows.push_back({std::to_string(i + 1), shown, k.op.empty() ? "(uncorrelated)" : k.op,
                            k.module.empty() ? "(root)" : k.module, count(k.calls), ms(k.time_ms), k.bound,
                            pct(k.share_of_ceiling)});
  }
  tables.push_back(std::move(kernels));

  Table recs = make_table("recommendations", "Recommendations",
                          {{"transform", false, 15}, {"saving ms", true, 9}, {"speedup", true, 8},
                           {"where", false, 24}, {"why", false, 44}},
                          "None: no transform is expected to save more than 2% of the iteration.");
  for (const auto& r : p.recommendations) {
    recs.rows.push_back({r.transform, ms(r.saving_ms), fixed(r.speedup, 2) + "x", where(r.modules), r.reason});
  }
  tables.push_back(std::move(recs));
  return tables;
}

}  // namespace mlopt::report::detail
