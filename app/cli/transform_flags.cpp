#include "transform_flags.h"

#include <iostream>
#include <iomanip>
#include <sstream>

#include "format.h"
#include "mlopt/core/error.h"

namespace mlopt::cli {
namespace {

std::string scientific(double v) {
  std::ostringstream s;
  s << std::scientific << std::setprecision(2) << v;
  return s.str();
}

}  // namespace

TransformOptions TransformFlags::options() const {
  if (!flash_attention && !fused_mlp && !align_linear && !cuda_graphs) {
    throw UsageError("choose at least one transform: --flash-attention, --fused-mlp, --align-linear, --cuda-graphs");
  }
  TransformOptions o;
  o.flash_attention = flash_attention;
  o.fused_mlp = fused_mlp;
  o.align_linear = align_linear;
  o.cuda_graphs = cuda_graphs;
  o.tolerance = tolerance;
  return o;
}

void add_transform_flags(CLI::App* sub, TransformFlags& flags) {
  sub->add_flag("--flash-attention", flags.flash_attention,
                "Replace attention blocks by mlopt::flash_attention (mlopt's FlashAttention-style kernel)");
  sub->add_flag("--fused-mlp", flags.fused_mlp,
                "Replace MLP blocks (Linear/Conv1D + GELU/ReLU/SiLU + Linear, SwiGLU/GeGLU) by mlopt::fused_mlp");
  sub->add_flag("--align-linear", flags.align_linear,
                "Pad Linear layers whose output features are not a multiple of 8 (a 50257-token LM head) so cuBLAS "
                "uses its aligned tensor-core kernels");
  sub->add_flag("--cuda-graphs", flags.cuda_graphs,
                "Capture the whole forward as a CUDA graph for the spec's shapes (CUDA only; after the other "
                "transforms)");
  sub->add_option_function<double>(
         "--tolerance", [&flags](double t) { flags.tolerance = t; },
         "Largest accepted output error relative to the output's scale (default by dtype: fp32 1e-4, fp16 1e-2, "
         "bf16 4e-2)")
      ->check(CLI::NonNegativeNumber);
}

void print_outcomes(const std::vector<TransformOutcome>& outcomes) {
  for (const auto& o : outcomes) {
    std::cout << o.transform << ": "
              << (o.applied ? "applied" : o.note.empty() ? "not applied" : o.note) << " — " << o.matched.size()
              << " matched, " << o.missed.size() << " left alone\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& m : o.matched) rows.push_back({"matched", m.module.empty() ? "(root)" : m.module, m.detail});
    for (const auto& m : o.missed) {
      rows.push_back({"left alone", m.module.empty() ? "(root)" : m.module, m.op + ": " + m.reason});
    }
    if (!rows.empty()) std::cout << table({"", "module", "what"}, rows, false);
    if (o.verification) {
      const auto& v = *o.verification;
      std::string seeds;
      for (const auto s : v.seeds) seeds += (seeds.empty() ? "" : ", ") + std::to_string(s);
      std::cout << "verification " << (v.passed ? "passed" : "FAILED") << " on inputs from seeds " << seeds << "\n";
      if (!v.error.empty()) std::cout << "  the transformed forward failed: " << v.error << "\n";
      rows.clear();
      for (const auto& c : v.outputs) {
        rows.push_back({c.name, scientific(c.max_abs_error), scientific(c.max_reference), scientific(c.error),
                        scientific(c.tolerance), c.passed ? "ok" : (c.problem.empty() ? "too large" : c.problem)});
      }
      if (!rows.empty()) {
        std::cout << table({"output", "max |error|", "max |original|", "relative", "tolerance", ""}, rows);
      }
    }
    std::cout << "\n";
  }
}

void record_outcomes(Project& project, const std::vector<TransformOutcome>& outcomes) {
  project.transforms.clear();
  for (const auto& outcome : outcomes) project.transforms.push_back(outcome.transform);
  project.optimizations = outcomes;
}

std::string applied_variant(const std::vector<TransformOutcome>& outcomes) {
  std::string v;
  for (const auto& o : outcomes) {
    if (o.applied) v += (v.empty() ? "" : "+") + o.transform;
  }
  return v;
}

}  // namespace mlopt::cli
