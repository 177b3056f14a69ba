// mlopt compare MODEL --input SPEC [transform flags]: the model as loaded and
// the optimized one, timed in alternation, side by side.
#include <cmath>
#include <iostream>
#include <map>
#include <memory>

#include "commands.h"
#include "format.h"
#include "model_options.h"
#include "mlopt/core/project.h"
#include "mlopt/core/runner.h"
#include "mlopt/core/stats.h"
#include "mlopt/core/transforms.h"
#include "mlopt/profiler/profile_json.h"
#include "mlopt/profiler/profiler.h"
#include "project_update.h"
#include "transform_flags.h"

namespace mlopt::cli {
namespace {

struct CompareCliOptions : ModelRunOptions {
  TransformFlags transforms;
  int repeats = 5;
  bool no_profile = false;
  std::string project;
};

// One variant's runs: R repeats of `iterations` timed forwards each.
struct Variant {
  std::string name;
  Model model;
  std::vector<RunResult> runs;
  std::optional<profiler::ProfileResult> profile;

  std::vector<double> all_samples() const {
    std::vector<double> s;
    for (const auto& r : runs) s.insert(s.end(), r.samples_ms.begin(), r.samples_ms.end());
    return s;
  }
  // 95% confidence interval of the median latency over the repeats
  // (Student's t on the repeats' medians): how much of a difference between
  // the variants is noise.
  std::pair<double, double> median_interval() const {
    std::vector<double> medians;
    for (const auto& r : runs) medians.push_back(r.stats.median_ms);
    const auto s = summarize(medians);
    if (medians.size() < 2) return {s.mean_ms, s.mean_ms};
    // Two-sided 97.5% quantiles of t for 1..9 degrees of freedom, then 1.96.
    static const double t[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262};
    const std::size_t dof = medians.size() - 1;
    const double q = dof <= 9 ? t[dof - 1] : 1.96;
    const double half = q * s.stddev_ms / std::sqrt(static_cast<double>(medians.size()));
    return {s.mean_ms - half, s.mean_ms + half};
  }
};

std::string ratio(double before, double after) { return after > 0 ? fixed(before / after, 2) + "x" : "-"; }

void print_comparison(const Variant& base, const Variant& opt) {
  const auto a = summarize(base.all_samples());
  const auto b = summarize(opt.all_samples());
  const auto ia = base.median_interval();
  const auto ib = opt.median_interval();
  const auto& ra = base.runs.back();
  const auto& rb = opt.runs.back();
  const double tps_a = ra.tokens_per_forward / (a.median_ms / 1e3);
  const double tps_b = rb.tokens_per_forward / (b.median_ms / 1e3);
  std::vector<std::vector<std::string>> rows = {
      {"latency median (ms)", fixed(a.median_ms, 3), fixed(b.median_ms, 3), ratio(a.median_ms, b.median_ms)},
      {"  95% CI of the median", fixed(ia.first, 3) + " - " + fixed(ia.second, 3),
       fixed(ib.first, 3) + " - " + fixed(ib.second, 3), ""},
      {"  p10 / p90", fixed(a.p10_ms, 3) + " / " + fixed(a.p90_ms, 3), fixed(b.p10_ms, 3) + " / " + fixed(b.p90_ms, 3),
       ""},
      {"throughput (tokens/s)", fixed(tps_a, 0), fixed(tps_b, 0), ratio(tps_b, tps_a)}};
  if (ra.peak_memory_bytes && rb.peak_memory_bytes) {
    rows.push_back({"peak memory", human_bytes(*ra.peak_memory_bytes), human_bytes(*rb.peak_memory_bytes),
                    ratio(static_cast<double>(*ra.peak_memory_bytes), static_cast<double>(*rb.peak_memory_bytes))});
  }
  if (base.profile && opt.profile) {
    std::map<std::string, std::pair<double, double>> categories;
    for (const auto& c : base.profile->categories) categories[c.category].first = c.time_us;
    for (const auto& c : opt.profile->categories) categories[c.category].second = c.time_us;
    for (const auto& [name, t] : categories) {
      rows.push_back({"  " + name + " (ms, profiled)", fixed(t.first / 1e3, 3), fixed(t.second / 1e3, 3),
                      ratio(t.first, t.second)});
    }
  }
  std::cout << "Compared on " << to_string(ra.device) << " (" << ra.device_name << "), " << ra.spec.to_string() << ": "
            << base.runs.size() << " alternating repeats of " << ra.stats.count << " timed forwards each\n"
            << table({"", base.name, opt.name, "gain"}, rows);
}

}  // namespace

Command add_compare(CLI::App& app) {
  auto o = std::make_shared<CompareCliOptions>();
  auto* sub = app.add_subcommand("compare", "Time and profile a model before and after transforms, side by side");
  add_model_run_options(sub, *o, "Timed iterations per repeat");
  add_transform_flags(sub, o->transforms);
  sub->add_option("--repeats", o->repeats, "Repeats of the timed runs, alternating the variants (for the interval)")
      ->check(CLI::PositiveNumber);
  sub->add_flag("--no-profile", o->no_profile, "Skip the per-category profiles (timing only)");
  sub->add_option("--project", o->project, "Also record both variants' runs, profiles and the outcomes here");
  return {sub, [o]() {
            const InputSpec spec = o->spec();
            const auto options = o->transforms.options();
            const Model model = o->load_model();
            auto transformed = apply_transforms(model, spec, options);
            print_outcomes(transformed.outcomes);
            const auto variant = applied_variant(transformed.outcomes);
            Variant base{"baseline", model, {}, {}};
            Variant opt{variant.empty() ? "optimized (nothing kept)" : variant, transformed.model, {}, {}};
            RunOptions run_options;
            run_options.iterations = o->iterations;
            run_options.warmup = o->warmup;
            run_options.seed = o->seed;
            for (int r = 0; r < o->repeats; ++r) {
              for (auto* v : {&base, &opt}) {
                auto result = run(v->model, spec, run_options);
                result.variant = v == &base ? "" : variant;
                v->runs.push_back(std::move(result));
              }
            }
            if (!o->no_profile) {
              profiler::ProfileOptions profile_options;
              profile_options.seed = o->seed;
              for (auto* v : {&base, &opt}) v->profile = profiler::profile(v->model, spec, profile_options);
            }
            print_comparison(base, opt);
            if (!o->project.empty()) {
              record_in_project(o->project, model, spec, [&](Project& p) {
                record_outcomes(p, transformed.outcomes);
                // One run per variant: the last repeat's, samples of all repeats pooled.
                for (auto* v : {&base, &opt}) {
                  RunResult merged = v->runs.back();
                  merged.samples_ms = v->all_samples();
                  merged.stats = summarize(merged.samples_ms);
                  merged.tokens_per_second = merged.tokens_per_forward / (merged.stats.median_ms / 1e3);
                  p.runs.push_back(std::move(merged));
                  if (v->profile) p.profiles.push_back(profiler::to_json(*v->profile));
                }
              });
            }
            return 0;
          }};
}

}  // namespace mlopt::cli
