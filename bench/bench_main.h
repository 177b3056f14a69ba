#pragma once
// The main() the benchmark programs share: bad usage prints one line and
// exits 2; the run's own status otherwise; any other error one line and 1.
#include <cstdio>
#include <exception>
#include <string>

namespace mlopt::bench {

// `parse(argc, argv)` returns the options; `run(options)` the exit status;
// `describe(e)` the line an error prints (libtorch's messages are cut to
// their first line by the programs that call it).
template <class Parse, class Run, class Describe>
int bench_main(const char* program, int argc, char** argv, Parse parse, Run run, Describe describe) {
  decltype(parse(argc, argv)) options;
  try {
    options = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 2;
  }
  try {
    return run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, describe(e).c_str());
    return 1;
  }
}

template <class Parse, class Run>
int bench_main(const char* program, int argc, char** argv, Parse parse, Run run) {
  return bench_main(program, argc, argv, parse, run, [](const std::exception& e) { return std::string(e.what()); });
}

}  // namespace mlopt::bench
