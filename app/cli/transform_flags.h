#pragma once
// The transform choices `optimize` and `compare` share, and how their
// outcomes are printed.
#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

#include "mlopt/core/project.h"
#include "mlopt/core/transforms.h"

namespace mlopt::cli {

struct TransformFlags {
  bool flash_attention = false;
  bool fused_mlp = false;
  bool align_linear = false;
  bool cuda_graphs = false;
  std::optional<double> tolerance;

  // Throws UsageError when no transform is chosen.
  TransformOptions options() const;
};

void add_transform_flags(CLI::App* sub, TransformFlags& flags);

// What each pass matched (module paths), left alone (with the reason) and
// how verification went.
void print_outcomes(const std::vector<TransformOutcome>& outcomes);

// Makes `outcomes` the project's chosen transforms and their record.
void record_outcomes(Project& project, const std::vector<TransformOutcome>& outcomes);

// "flash_attention+fused_mlp" for the transforms that were kept.
std::string applied_variant(const std::vector<TransformOutcome>& outcomes);

}  // namespace mlopt::cli
