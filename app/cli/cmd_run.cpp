// mlopt run MODEL --input SPEC: time the forward.
#include <filesystem>
#include <iostream>
#include <memory>

#include "commands.h"
#include "format.h"
#include "model_options.h"
#include "parallel_run.h"
#include "project_update.h"
#include "mlopt/core/error.h"
#include "mlopt/core/model.h"
#include "mlopt/core/project.h"
#include "mlopt/core/runner.h"
#include "mlopt/profiler/nvtx_observer.h"

namespace mlopt::cli {
namespace {

struct RunCliOptions : ModelRunOptions {
  bool json = false;
  std::string project;
  ParallelFlags parallel;
};

void print_text(const RunResult& r) {
  std::cout << "model       " << r.model_path << " (" << to_string(r.dtype) << ")\n"
            << "device      " << to_string(r.device) << ": " << r.device_name << "\n"
            << "input       " << r.spec.to_string() << "\n"
            << "timer       " << r.timer << ", " << r.warmup << " warm-up + " << r.stats.count
            << " timed iterations\n\n";
  const auto& s = r.stats;
  std::cout << table({"latency (ms)", "median", "mean", "p10", "p90", "min", "max", "stddev"},
                     {{"forward", fixed(s.median_ms, 3), fixed(s.mean_ms, 3), fixed(s.p10_ms, 3), fixed(s.p90_ms, 3),
                       fixed(s.min_ms, 3), fixed(s.max_ms, 3), fixed(s.stddev_ms, 3)}})
            << "\nthroughput  " << fixed(r.tokens_per_second, 1) << " tokens/s (" << r.tokens_per_forward
            << " tokens per forward, at the median latency)\n";
  if (r.peak_memory_bytes) {
    std::cout << "memory      peak " << human_bytes(*r.peak_memory_bytes)
              << " allocated during the timed forwards (weights and inputs included)\n";
  }
  for (const auto& o : r.outputs) {
    std::cout << "output      " << o.name << ": " << to_string(o.dtype) << shape_string(o.shape)
              << (o.all_finite ? " (finite)" : " (contains NaN or Inf)") << '\n';
  }
}

}  // namespace

Command add_run(CLI::App& app) {
  auto o = std::make_shared<RunCliOptions>();
  auto* sub = app.add_subcommand("run", "Time a model's forward on inputs drawn from an input spec");
  add_model_run_options(sub, *o, "Timed iterations");
  sub->add_flag("--json", o->json, "Print the result (every sample and the statistics) as JSON");
  sub->add_option("--project", o->project, "Also record the run in this project file (.mlopt), created if absent");
  add_parallel_flags(sub, o->parallel);
  return {sub, [o]() {
            if (o->parallel.nproc->count() > 0) return launch_ranks(o->parallel);
            const auto world = parallel::world_from_environment();
            const auto& par = o->parallel;
            const bool parallel_run = world.is_distributed() || par.tensor_parallel > 1 || par.ring_attention > 1;
            if (parallel_run && !o->project.empty()) {
              throw UsageError("--project records single-device runs; leave it out of a parallel run");
            }
            if (world.is_distributed()) return run_as_rank(*o, par, world, o->json);
            if (parallel_run) return run_parallel_here(*o, par, o->json);
            par.strategy(0);  // --sequence-parallel alone is refused
            const InputSpec spec = o->spec();  // a bad spec fails before the model loads
            const Model model = o->load_model();
            profiler::NvtxIterationObserver nvtx;
            RunOptions options;
            options.iterations = o->iterations;
            options.warmup = o->warmup;
            options.seed = o->seed;
            options.observer = &nvtx;
            const RunResult result = run(model, spec, options);
            if (o->json) {
              std::cout << to_json(result) << '\n';
            } else {
              print_text(result);
            }
            if (!o->project.empty()) {
              record_in_project(o->project, model, spec, [&](Project& p) { p.runs.push_back(result); });
            }
            return 0;
          }};
}

}  // namespace mlopt::cli
