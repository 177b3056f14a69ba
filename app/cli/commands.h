#pragma once
// The mlopt CLI's subcommands. Each registers its options on the CLI11 app
// and returns the action to run once parsing succeeded.
#include <CLI/CLI.hpp>

#include <functional>

namespace mlopt::cli {

using Action = std::function<int()>;

struct Command {
  CLI::App* subcommand;
  Action action;  // runs after a successful parse; returns the exit status
};

Command add_inspect(CLI::App& app);
Command add_run(CLI::App& app);
Command add_profile(CLI::App& app);
Command add_make_model(CLI::App& app);
Command add_devices(CLI::App& app);
Command add_report(CLI::App& app);
Command add_optimize(CLI::App& app);
Command add_compare(CLI::App& app);

}  // namespace mlopt::cli
