// mlopt profile MODEL --input SPEC: where the forward's time goes, and why.
#include <algorithm>
#include <filesystem>
#include <map>
#include <iostream>
#include <memory>

#include "commands.h"
#include "format.h"
#include "model_options.h"
#include "mlopt/core/atomic_file.h"
#include "mlopt/core/model.h"
#include "mlopt/profiler/chrome_trace.h"
#include "mlopt/profiler/profile_json.h"
#include "mlopt/core/error.h"
#include "mlopt/profiler/profiler.h"
#include "parallel_run.h"
#include "project_update.h"

namespace mlopt::cli {
namespace {

struct ProfileCliOptions : ModelRunOptions {
  ProfileCliOptions() { iterations = 10; }
  int top = 15;
  int module_depth = 0;
  bool no_gpu_trace = false;
  std::string json, trace, project;
  ParallelFlags parallel;
};

std::string ms(double us) { return fixed(us / 1e3, 3); }
std::string percent(double share) { return fixed(100 * share, 1) + "%"; }

void print_header(const profiler::ProfileResult& p) {
  std::cout << "model       " << p.model_path << " (" << to_string(p.dtype) << ")\n"
            << "device      " << to_string(p.device) << ": " << p.device_name << "\n"
            << "input       " << p.spec.to_string() << "\n"
            << "iteration   " << ms(p.iteration_us) << " ms median, " << ms(p.mean_iteration_us) << " ms mean over "
            << p.iterations << " profiled; " << ms(p.unprofiled_iteration_us)
            << " ms median without the profiler: overhead " << percent(p.overhead) << "\n";
  if (p.gpu_busy_us > 0 || !p.kernels.empty()) {
    std::cout << "gpu         busy " << ms(p.gpu_busy_us) << " ms per iteration, "
              << percent(p.correlated_kernel_share) << " of kernel time traced to its op, " << p.dropped_records
              << " records dropped\n";
  }
  const auto& c = p.ceilings;
  std::cout << "ceilings    " << fixed(c.matmul_tflops, 1) << " TFLOP/s " << to_string(c.dtype) << " GEMM, "
            << fixed(c.copy_gbps, 0) << " GB/s copy, " << fixed(c.launch_overhead_us, 1) << " us per tiny op"
            << " (measured " << c.measured_at << ")\n"
            << "memory      peak " << human_bytes(p.peak_memory_bytes) << " allocated\n\n";
}

void print_tables(const profiler::ProfileResult& p, int top) {
  std::vector<std::vector<std::string>> rows;
  double total = 0;
  for (const auto& c : p.categories) {
    rows.push_back({c.category, ms(c.time_us), percent(c.share), to_string(c.bound), ms(c.potential_saving_us)});
    total += c.time_us;
  }
  rows.push_back({"total", ms(total), "", "", ""});
  std::cout << "Where the time goes (mean per iteration)\n"
            << table({"category", "ms", "share", "bound", "saving ms"}, rows) << "\n";

  rows.clear();
  for (std::size_t i = 0; i < p.modules.size() && static_cast<int>(i) < top; ++i) {
    const auto& m = p.modules[i];
    rows.push_back({m.module_path, ms(m.time_us), percent(m.share), to_string(m.bound), ms(m.potential_saving_us)});
  }
  std::cout << "Modules\n" << table({"module", "ms", "share", "bound", "saving ms"}, rows) << "\n";

  // The same op in every layer: one row per kind first, then per node.
  const bool gpu = p.gpu_busy_us > 0;
  std::map<std::string, std::pair<double, double>> kinds;  // name -> (calls, time)
  for (const auto& o : p.ops) {
    kinds[o.name].first += o.calls;
    kinds[o.name].second += gpu ? o.gpu_us : o.cpu_total_us;
  }
  std::vector<std::pair<std::string, std::pair<double, double>>> sorted(kinds.begin(), kinds.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second.second > b.second.second; });
  rows.clear();
  for (std::size_t i = 0; i < sorted.size() && static_cast<int>(i) < top; ++i) {
    const auto& [name, v] = sorted[i];
    rows.push_back({name, fixed(v.first, 0), ms(v.second), percent(p.mean_iteration_us > 0 ? v.second / p.mean_iteration_us : 0)});
  }
  std::cout << "Op kinds\n" << table({"op", "calls", "ms", "share"}, rows) << "\n";

  rows.clear();
  for (std::size_t i = 0; i < p.ops.size() && static_cast<int>(i) < top; ++i) {
    const auto& o = p.ops[i];
    rows.push_back({o.name, o.module_path.empty() ? "(root)" : o.module_path, fixed(o.calls, 0),
                    ms(gpu ? o.gpu_us : o.cpu_total_us), fixed(o.roofline.achieved_tflops, 2),
                    fixed(o.roofline.achieved_gbps, 0), to_string(o.roofline.bound),
                    percent(o.roofline.share_of_ceiling)});
  }
  std::cout << "Ops (" << (gpu ? "GPU" : "CPU") << " time)\n"
            << table({"op", "module", "calls", "ms", "TFLOP/s", "GB/s", "bound", "of ceiling"}, rows) << "\n";

  if (gpu) {
    rows.clear();
    for (std::size_t i = 0; i < p.kernels.size() && static_cast<int>(i) < top; ++i) {
      const auto& k = p.kernels[i];
      std::string name = k.name.size() > 60 ? k.name.substr(0, 57) + "..." : k.name;
      rows.push_back({name, k.op, fixed(k.calls, 0), ms(k.gpu_us), to_string(k.roofline.bound),
                      percent(k.roofline.share_of_ceiling)});
    }
    std::cout << "Kernels\n" << table({"kernel", "op", "calls", "ms", "bound", "of ceiling"}, rows) << "\n";
  }

  std::cout << "Recommendations\n";
  if (p.recommendations.empty()) std::cout << "  none: no transform is expected to save more than 2%\n";
  for (const auto& r : p.recommendations) {
    std::cout << "  " << r.transform << ": -" << ms(r.expected_saving_us) << " ms per forward, "
              << fixed(r.expected_speedup, 2) << "x expected\n      " << r.reason << "\n";
  }
}

// Profiles `model`, prints the header and tables, writes the JSON and the
// trace when asked.
profiler::ProfileResult profile_and_report(const ProfileCliOptions& o, const Model& model, const InputSpec& spec) {
  profiler::ProfileOptions options;
  options.iterations = o.iterations;
  options.warmup = o.warmup;
  options.seed = o.seed;
  options.gpu_trace = !o.no_gpu_trace;
  options.module_depth = o.module_depth;
  const auto result = profiler::profile(model, spec, options);
  print_header(result);
  print_tables(result, o.top);
  if (!o.json.empty()) {
    write_file_atomically(o.json, profiler::to_json(result, true, 2) + "\n");
    std::cout << "\nwrote " << o.json << "\n";
  }
  if (!o.trace.empty()) {
    profiler::write_chrome_trace(result, o.trace);
    std::cout << "wrote " << o.trace << " (open it in https://ui.perfetto.dev)\n";
  }
  return result;
}

}  // namespace

Command add_profile(CLI::App& app) {
  auto o = std::make_shared<ProfileCliOptions>();
  auto* sub = app.add_subcommand("profile", "Rank where a model's forward spends time and memory, and why");
  add_model_run_options(sub, *o, "Profiled iterations (and as many un-profiled for the overhead)");
  sub->add_option("--top", o->top, "Rows per table")->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--module-depth", o->module_depth, "Module grouping depth (0: one level below the blocks)")
      ->check(CLI::NonNegativeNumber);
  sub->add_flag("--no-gpu-trace", o->no_gpu_trace, "On CUDA, skip CUPTI (CPU-side op times only)");
  sub->add_option("--json", o->json, "Write the whole result as JSON to this file");
  sub->add_option("--trace", o->trace, "Write a Chrome/Perfetto trace of the last iteration to this file");
  sub->add_option("--project", o->project, "Also store the profile in this project file (.mlopt)");
  sub->add_option("--tensor-parallel", o->parallel.tensor_parallel,
                  "Profile rank 0 of N tensor-parallel ranks (this process; a GPU each, or CPU threads)")
      ->check(CLI::PositiveNumber);
  sub->add_flag("--sequence-parallel", o->parallel.sequence_parallel, "With --tensor-parallel: sequence parallelism");
  sub->add_option("--ring-attention", o->parallel.ring_attention, "Profile rank 0 of an N-rank ring-attention run")
      ->check(CLI::PositiveNumber);
  return {sub, [o]() {
            if (o->parallel.tensor_parallel > 1 || o->parallel.ring_attention > 1) {
              if (!o->project.empty()) {
                throw UsageError("--project records single-device profiles; leave it out of a parallel profile");
              }
              with_parallel_model(*o, o->parallel, false, [&](const Model& rank0, const InputSpec& spec) {
                std::cout << "\nProfile of rank 0 (the other ranks run alongside; their kernels are left out)\n";
                profile_and_report(*o, rank0, spec);
              });
              return 0;
            }
            o->parallel.strategy(0);  // --sequence-parallel alone is refused
            const InputSpec spec = o->spec();  // a bad spec fails before the model loads
            const Model model = o->load_model();
            const auto result = profile_and_report(*o, model, spec);
            if (!o->project.empty()) {
              record_in_project(o->project, model, spec,
                                [&](Project& p) { p.profiles.push_back(profiler::to_json(result)); });
            }
            return 0;
          }};
}



}  // namespace mlopt::cli
