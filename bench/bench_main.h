#pragma once
// The main() the benchmark programs share: the command line is parsed
// (CLI11) before any GPU work, so --help prints the usage and exits 0, and
// bad usage prints what is wrong and exits 2; the run's own status
// otherwise; any other error one line and 1.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <optional>
#include <string>

namespace mlopt::bench {

// Parses the command line into the options declared on `app`. Returns the
// status to exit with where the program stops here: 0 after --help,
// `usage_status` on bad usage (CLI11 printed why either way); nullopt where
// it goes on.
inline std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv, int usage_status = 2) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : usage_status;
  }
  return std::nullopt;
}

// --iters and --warmup as the benchmarks declare them: `timed` says what
// one timed unit is ("calls per variant"), `untimed` the warm-up's.
template <class Count>
void add_timing_options(CLI::App& app, Count& iters, Count& warmup, const std::string& timed,
                        const std::string& untimed) {
  app.add_option("--iters", iters, "Timed " + timed + " (the median is reported)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--warmup", warmup, "Untimed " + untimed + " before them")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

// `app` declares the command line (its options write into the program's
// options, which `run` reads); `run()` returns the exit status; `describe(e)`
// the line an error prints, after the app's name (libtorch's messages are cut
// to their first line by the programs that call it).
template <class Run, class Describe>
int bench_main(CLI::App& app, int argc, char** argv, Run run, Describe describe) {
  if (const auto status = parse_command_line(app, argc, argv)) return *status;
  try {
    return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", app.get_name().c_str(), describe(e).c_str());
    return 1;
  }
}

template <class Run>
int bench_main(CLI::App& app, int argc, char** argv, Run run) {
  return bench_main(app, argc, argv, run, [](const std::exception& e) { return std::string(e.what()); });
}

}  // namespace mlopt::bench
