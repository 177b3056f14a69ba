// bench_model_latency: times a TorchScript model's forward at several input
// sizes with mlopt's Runner, prints a table and writes JSON (device, date,
// libtorch version, every sample).
//
//   bench_model_latency MODEL --device cuda --dtype fp16 --iters 50
//       --sizes 1x128,1x1024,8x1024 --json bench/results/gpt2-latency.json
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mlopt/core/atomic_file.h"
#include "mlopt/core/error.h"
#include "mlopt/core/model.h"
#include "mlopt/core/project.h"
#include "mlopt/core/runner.h"

namespace {

struct Args {
  std::string model, device = "cpu", dtype, json;
  std::vector<std::pair<int64_t, int64_t>> sizes = {{1, 128}, {1, 1024}, {8, 1024}};
  int iters = 50, warmup = 5;
};

std::vector<std::pair<int64_t, int64_t>> parse_sizes(const std::string& text) {
  std::vector<std::pair<int64_t, int64_t>> sizes;
  std::size_t start = 0;
  while (start < text.size()) {
    auto comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const auto x = item.find('x');
    if (x == std::string::npos) throw mlopt::UsageError("sizes are BATCHxSEQ, e.g. 8x1024: got '" + item + "'");
    sizes.emplace_back(std::stoll(item.substr(0, x)), std::stoll(item.substr(x + 1)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return sizes;
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw mlopt::UsageError(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--device") a.device = next();
    else if (arg == "--dtype") a.dtype = next();
    else if (arg == "--iters") a.iters = std::stoi(next());
    else if (arg == "--warmup") a.warmup = std::stoi(next());
    else if (arg == "--sizes") a.sizes = parse_sizes(next());
    else if (arg == "--json") a.json = next();
    else if (!arg.empty() && arg[0] != '-' && a.model.empty()) a.model = arg;
    else throw mlopt::UsageError("unknown argument '" + arg + "'");
  }
  if (a.model.empty()) {
    throw mlopt::UsageError(
        "usage: bench_model_latency MODEL [--device cpu|cuda] [--dtype fp32|fp16|bf16] [--iters N] [--warmup N] "
        "[--sizes 1x128,8x1024] [--json FILE]");
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args args = parse_args(argc, argv);
    mlopt::LoadOptions load;
    load.device = mlopt::parse_device(args.device);
    if (!args.dtype.empty()) load.dtype = mlopt::parse_dtype(args.dtype);

    nlohmann::json runs = nlohmann::json::array();
    std::string device_name;
    std::printf("%-12s %10s %10s %10s %14s\n", "batch x seq", "median ms", "p10 ms", "p90 ms", "tokens/s");
    std::string dtype, torch_version;
    for (const auto& [batch, seq] : args.sizes) {
      // A fresh load per size, as `mlopt run` does: TorchScript's profiling
      // executor specialises on the first shapes it sees, and a model that
      // has run other shapes takes slower fallback paths.
      const auto model = mlopt::Model::load(args.model, load);
      dtype = mlopt::to_string(model.info().dtype);
      torch_version = model.info().torch_version;
      const auto spec = mlopt::InputSpec::parse("ids:int64[" + std::to_string(batch) + "," + std::to_string(seq) + "]");
      const auto r = mlopt::run(model, spec, {.warmup = args.warmup, .iterations = args.iters});
      device_name = r.device_name;
      std::printf("%5lldx%-6lld %10.3f %10.3f %10.3f %14.0f\n", static_cast<long long>(batch),
                  static_cast<long long>(seq), r.stats.median_ms, r.stats.p10_ms, r.stats.p90_ms,
                  r.tokens_per_second);
      std::fflush(stdout);
      runs.push_back(nlohmann::json::parse(mlopt::to_json(r)));
    }
    if (!args.json.empty()) {
      const nlohmann::json doc = {{"benchmark", "model_latency"},
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
    std::fprintf(stderr, "bench_model_latency: error: %s\n", e.what());
    return 1;
  }
}
