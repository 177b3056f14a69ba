#pragma once
// The options every command that runs a model shares: the model, the input
// spec, where and in which dtype it runs, iterations, warm-up and seed.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "mlopt/core/input_spec.h"
#include "mlopt/core/model.h"

namespace mlopt::cli {

struct ModelRunOptions {
  std::string model;
  std::vector<std::string> input;
  std::string device = "cpu";
  std::string dtype;
  int iterations = 20;
  int warmup = 3;
  uint64_t seed = 0;

  LoadOptions load_options() const;  // throws UsageError for a bad device or dtype
  InputSpec spec() const;             // throws InputSpecError
  Model load_model() const;           // with load_options(); throws as Model::load does
};

// Registers the shared options on `sub`; `iterations_help` says what the
// iterations are for in this command.
void add_model_run_options(CLI::App* sub, ModelRunOptions& options, const std::string& iterations_help);

}  // namespace mlopt::cli
