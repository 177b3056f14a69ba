// bench_models: times a TorchScript model's forward at several input sizes,
// as loaded (baseline) and with mlopt's transforms applied (each one alone
// and combined), with mlopt's Runner; prints a table with the ratios to the
// baseline and writes JSON (device, date, libtorch version, every sample,
// what each transform matched and its verification).
//
//   bench_models MODEL --device cuda --dtype fp16 --iters 50
//       --sizes 1x128,1x1024,8x1024 --variants baseline,flash_attention,fused_mlp,combined,combined_cuda_graphs
//       --json bench/results/gpt2-models.json
//
// Exit status 2 on bad usage, 1 when the model cannot be loaded or a run fails.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <memory>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench_main.h"
#include "mlopt/core/atomic_file.h"
#include "mlopt/core/error.h"
#include "mlopt/core/model.h"
#include "mlopt/core/project.h"
#include "mlopt/core/runner.h"
#include "mlopt/core/torch_bridge.h"
#include "mlopt/core/transforms.h"
#include "mlopt/profiler/profiler.h"

namespace {

struct Args {
  std::string model, device = "cpu", dtype, json;
  std::vector<std::string> sizes = {"1x128", "1x1024", "8x1024"};  // BATCHxSEQ (parse_size)
  std::vector<std::string> variants = {"baseline"};
  int iters = 50, warmup = 5;
};

// What --variants takes (variant_options).
const std::vector<std::string> kVariants = {"baseline",    "flash_attention", "fused_mlp",           "align_linear",
                                            "cuda_graphs", "combined",        "combined_cuda_graphs"};

// baseline: the model as loaded; flash_attention / fused_mlp / align_linear /
// cuda_graphs: that transform alone; combined: every graph transform
// (attention, MLP, align_linear); combined_cuda_graphs: those and the capture.
mlopt::TransformOptions variant_options(const std::string& variant) {
  mlopt::TransformOptions o;
  const bool combined = variant == "combined" || variant == "combined_cuda_graphs";
  o.flash_attention = variant == "flash_attention" || combined;
  o.fused_mlp = variant == "fused_mlp" || combined;
  o.align_linear = variant == "align_linear" || combined;
  o.cuda_graphs = variant == "cuda_graphs" || variant == "combined_cuda_graphs";
  if (variant != "baseline" && !o.flash_attention && !o.fused_mlp && !o.align_linear && !o.cuda_graphs) {
    throw mlopt::UsageError("unknown variant '" + variant + "'");  // --variants keeps to kVariants
  }
  return o;
}

// "BATCHxSEQ" (e.g. 8x1024) as (batch, seq); nullopt where the text is not
// two positive integers so joined.
std::optional<std::pair<int64_t, int64_t>> parse_size(const std::string& text) {
  const auto x = text.find('x');
  if (x == std::string::npos) return std::nullopt;
  const auto positive = [](std::string_view digits) -> std::optional<int64_t> {
    int64_t value = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (error != std::errc() || end != digits.data() + digits.size() || value <= 0) return std::nullopt;
    return value;
  };
  const std::string_view view(text);
  const auto batch = positive(view.substr(0, x)), seq = positive(view.substr(x + 1));
  if (!batch || !seq) return std::nullopt;
  return std::pair{*batch, *seq};
}

// The command line, declared on `app` (its options write into `a`).
void add_args(CLI::App& app, Args& a) {
  app.add_option("model", a.model, "TorchScript model to time")->required();
  app.add_option("--device", a.device, "cpu or cuda")->capture_default_str();
  app.add_option("--dtype", a.dtype, "fp32, fp16 or bf16 (default: the model's own)");
  // The runner's own limits, checked here before any model is loaded.
  mlopt::bench::add_timing_options(app, a.iters, a.warmup, "forwards per size and variant", "forwards");
  app.add_option("--sizes", a.sizes, "Input sizes, BATCHxSEQ each (ids:int64[BATCH,SEQ])")
      ->delimiter(',')
      ->check(
          [](const std::string& text) {
            if (parse_size(text)) return std::string();
            return "sizes are BATCHxSEQ, two positive integers, e.g. 8x1024: got '" + text + "'";
          },
          "BATCHxSEQ")
      ->capture_default_str();
  app.add_option("--variants", a.variants, "The model as loaded and with mlopt's transforms (see variant_options)")
      ->delimiter(',')
      ->check(CLI::IsMember(kVariants))
      ->capture_default_str();
  app.add_option("--json", a.json, "Write every run, its samples and the transforms' outcomes to this JSON file");
}

// The floor of one forward: every op's FLOPs and bytes (the profiler's cost
// model, on the shapes of this spec) over the device's measured ceilings,
// max(flops / GEMM peak, bytes / copy bandwidth) per op, summed. A CUDA
// graph's replay hides its ops from the profiler, so the model is profiled
// through the interpreter: the graph runs the same ops.
struct Floor {
  double ms = 0;
  double flops = 0;
  double bytes = 0;
  double gemm_tflops = 0;
  double copy_gbps = 0;
};

Floor floor_of(const mlopt::Model& model, const mlopt::InputSpec& spec) {
  auto impl = std::make_shared<mlopt::Model::Impl>(model.impl());
  impl->replacement = nullptr;
  mlopt::profiler::ProfileOptions options;
  options.warmup = 1;
  options.iterations = 1;
  options.gpu_trace = false;  // costs come from shapes; no need for kernel times
  const auto p = mlopt::profiler::profile(mlopt::Model::from_impl(impl), spec, options);
  Floor f;
  f.gemm_tflops = p.ceilings.matmul_tflops;
  f.copy_gbps = p.ceilings.copy_gbps;
  for (const auto& op : p.ops) {
    if (!op.cost.known) continue;
    f.flops += op.cost.flops;
    f.bytes += op.cost.bytes;
    f.ms += 1e3 * std::max(op.cost.flops / (f.gemm_tflops * 1e12), op.cost.bytes / (f.copy_gbps * 1e9));
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  CLI::App app{"bench_models: times a TorchScript model's forward at several input sizes, as loaded and with mlopt's "
               "transforms applied (each alone and combined); a table with the ratios to the baseline, and JSON",
               "bench_models"};
  add_args(app, args);
  // Bad usage exits 2, as in the programs that share bench_main; a failed run 1.
  if (const auto status = mlopt::bench::parse_command_line(app, argc, argv)) return *status;
  try {
    mlopt::LoadOptions load;
    load.device = mlopt::parse_device(args.device);
    if (!args.dtype.empty()) load.dtype = mlopt::parse_dtype(args.dtype);

    nlohmann::json runs = nlohmann::json::array();
    std::string device_name;
    std::printf("%-12s %-21s %10s %10s %10s %14s %10s %8s %9s %8s\n", "batch x seq", "variant", "median ms", "p10 ms",
                "p90 ms", "tokens/s", "peak MiB", "speedup", "floor ms", "of floor");
    std::string dtype, torch_version;
    for (const auto& size : args.sizes) {
      const auto [batch, seq] = *parse_size(size);  // --sizes checked it
      const auto spec = mlopt::InputSpec::parse("ids:int64[" + std::to_string(batch) + "," + std::to_string(seq) + "]");
      double baseline_ms = 0;
      for (const auto& variant : args.variants) {
        // A fresh load per size and variant, as `mlopt run` does:
        // TorchScript's profiling executor specialises on the first shapes
        // it sees, and a model that has run other shapes takes slower paths.
        auto model = mlopt::Model::load(args.model, load);
        dtype = mlopt::to_string(model.info().dtype);
        torch_version = model.info().torch_version;
        std::vector<mlopt::TransformOutcome> outcomes;
        if (variant != "baseline") {
          auto transformed = mlopt::apply_transforms(model, spec, variant_options(variant));
          model = transformed.model;
          outcomes = transformed.outcomes;
          for (const auto& o : outcomes) {
            if (!o.applied) std::printf("  %s: not applied: %s\n", o.transform.c_str(), o.note.c_str());
          }
        }
        auto r = mlopt::run(model, spec, {.warmup = args.warmup, .iterations = args.iters});
        r.variant = variant;
        device_name = r.device_name;
        if (variant == "baseline") baseline_ms = r.stats.median_ms;
        const double peak_mib = r.peak_memory_bytes ? static_cast<double>(*r.peak_memory_bytes) / (1 << 20) : 0.0;
        const Floor floor = floor_of(model, spec);
        std::printf("%5lldx%-6lld %-21s %10.3f %10.3f %10.3f %14.0f %10.0f %7.2fx %9.3f %7.0f%%\n",
                    static_cast<long long>(batch), static_cast<long long>(seq), variant.c_str(), r.stats.median_ms,
                    r.stats.p10_ms, r.stats.p90_ms, r.tokens_per_second, peak_mib,
                    baseline_ms > 0 ? baseline_ms / r.stats.median_ms : 0.0, floor.ms,
                    100.0 * floor.ms / r.stats.median_ms);
        std::fflush(stdout);
        auto run_json = nlohmann::json::parse(mlopt::to_json(r));
        run_json["outcomes"] = nlohmann::json::parse(mlopt::to_json(outcomes));
        if (baseline_ms > 0) run_json["speedup_vs_baseline"] = baseline_ms / r.stats.median_ms;
        run_json["floor"] = {{"ms", floor.ms},
                             {"flops", floor.flops},
                             {"bytes", floor.bytes},
                             {"gemm_tflops_ceiling", floor.gemm_tflops},
                             {"copy_gbps_ceiling", floor.copy_gbps},
                             {"how", "sum over ops of max(flops / GEMM ceiling, bytes / copy bandwidth)"}};
        runs.push_back(std::move(run_json));
      }
    }
    if (!args.json.empty()) {
      const nlohmann::json doc = {{"benchmark", "models"},
                                  {"model", args.model},
                                  {"device", device_name},
                                  {"dtype", dtype},
                                  {"date", runs.empty() ? "" : runs[0]["timestamp"]},
                                  {"torch_version", torch_version},
                                  {"runs", runs}};
      mlopt::write_file_atomically(args.json, doc.dump(2) + "\n");
      std::printf("wrote %s\n", args.json.c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_models: error: %s\n", e.what());
    return 1;
  }
}
