// bench_tensor_parallel: tensor-parallel scaling of a model over 1, 2, 4, 8
// GPUs (one rank per GPU, one process, NCCL), each count on a freshly
// loaded model:
//
//   bench_tensor_parallel MODEL --input 'ids:int64[2,2048]' [--dtype fp16]
//       [--ranks 1,2,4,8] [--sequence-parallel] [--iters 20] [--warmup 5] [--json FILE]
//
// 1 rank is the model with mlopt's attention and MLP transforms on GPU 0 (the
// same kernels the ranks run); N ranks shard it (verified against the model
// first) and time every rank together, reporting rank 0's latency. Per
// count: median and p10/p90 latency, tokens/s, speedup over 1 rank and
// efficiency (speedup / N), weights per GPU, and the communication model
// (the plan's bytes each rank sends per forward) beside the bytes the
// collectives were given in one forward, counted on rank 0. Counts above
// the visible GPUs are skipped with a line saying so.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bench_main.h"
#include "mlopt/core/atomic_file.h"
#include "mlopt/core/environment.h"
#include "mlopt/core/error.h"
#include "mlopt/core/project.h"
#include "mlopt/core/runner.h"
#include "mlopt/core/tensor_parallel.h"
#include "mlopt/core/torch_bridge.h"
#include "mlopt/core/transforms.h"
#include "mlopt/core/units.h"
#include "mlopt/parallel/counting_communicator.h"
#include "mlopt/parallel/nccl.h"

namespace {

struct Args {
  std::string model, input = "ids:int64[2,2048]", dtype = "fp16", json;
  std::vector<int> ranks = {1, 2, 4, 8};
  bool sequence_parallel = false;
  int iters = 20, warmup = 5;
};

// The command line, declared on `app` (its options write into `a`).
void add_args(CLI::App& app, Args& a) {
  app.add_option("model", a.model, "TorchScript model to shard")->required();
  app.add_option("--input", a.input, "Input spec, as mlopt's --input")->capture_default_str();
  app.add_option("--dtype", a.dtype, "fp16 or bf16")->capture_default_str();
  app.add_option("--ranks", a.ranks, "GPU counts to time (counts above the visible GPUs are skipped)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--sequence-parallel", a.sequence_parallel,
               "Megatron sequence parallelism on top (reduce-scatters and all-gathers along the sequence)");
  // The runner's own limits, checked here before any model is loaded.
  mlopt::bench::add_timing_options(app, a.iters, a.warmup, "forwards per count", "forwards");
  app.add_option("--json", a.json, "Write every count's row with the device and date to this JSON file");
}

mlopt::Model load(const Args& a) {
  mlopt::LoadOptions load;
  load.device = mlopt::parse_device("cuda");
  load.dtype = mlopt::parse_dtype(a.dtype);
  return mlopt::Model::load(a.model, load);
}

struct Row {
  int ranks = 1;
  mlopt::RunResult result;
  int64_t weights_per_gpu = 0;
  int64_t model_bytes = 0;    // the plan's bytes sent per rank per forward
  int64_t counted_bytes = 0;  // counted on rank 0 in one forward
};

Row one_gpu(const Args& a, const mlopt::InputSpec& spec, const mlopt::RunOptions& run) {
  mlopt::TransformOptions t;
  t.flash_attention = true;
  t.fused_mlp = true;
  const auto model = mlopt::apply_transforms(load(a), spec, t).model;
  Row row;
  row.result = mlopt::run(model, spec, run);
  return row;
}

Row sharded(const Args& a, int n, const mlopt::InputSpec& spec, const mlopt::RunOptions& run) {
  mlopt::TensorParallelOptions o;
  o.world_size = n;
  o.sequence_parallel = a.sequence_parallel;
  std::vector<int> devices;
  for (int r = 0; r < n; ++r) {
    o.devices.push_back(mlopt::Device{mlopt::DeviceKind::Cuda, r});
    devices.push_back(r);
  }
  const auto tp = mlopt::shard_tensor_parallel(load(a), spec, o);
  Row row;
  row.ranks = n;
  row.weights_per_gpu = tp.plan().weight_bytes_per_rank;
  row.model_bytes = tp.plan().bytes_sent_per_rank();
  std::mutex m;
  mlopt::parallel::NcclGroup group(devices);
  group.run([&](mlopt::parallel::Communicator& comm) {
    mlopt::parallel::CountingCommunicator counted(comm);
    tp.forward(counted, mlopt::make_inputs(tp.rank(comm.rank()), spec, run.seed));
    auto r = tp.run(comm, spec, run);
    std::lock_guard lock(m);
    if (comm.rank() == 0) {
      row.result = std::move(r);
      row.counted_bytes = static_cast<int64_t>(counted.ring_bytes_sent());
    }
  });
  return row;
}

int run_bench(const Args& a) {
  if (!mlopt::parallel::nccl_available()) {
    std::printf("bench_tensor_parallel: this build has no NCCL; nothing to measure\n");
    return 0;
  }
  const int gpus = mlopt::cuda_device_count();
  if (gpus < 1) throw mlopt::DeviceError("bench_tensor_parallel needs a CUDA GPU");
  const auto spec = mlopt::InputSpec::parse(a.input);
  mlopt::RunOptions run;
  run.iterations = a.iters;
  run.warmup = a.warmup;
  std::printf("bench_tensor_parallel: %s, %s %s, %d GPU(s) visible%s\n", a.model.c_str(), a.input.c_str(),
              a.dtype.c_str(), gpus, a.sequence_parallel ? ", sequence parallel" : "");
  std::printf("%6s %10s %9s %9s %12s %8s %7s %12s %14s %14s\n", "ranks", "median ms", "p10 ms", "p90 ms", "tokens/s",
              "speedup", "eff.", "weights/GPU", "model B/rank", "counted B/rank");
  nlohmann::json rows = nlohmann::json::array();
  std::optional<double> single_ms;
  std::string device;
  for (const int n : a.ranks) {
    if (n > gpus) {
      std::printf("%6d skipped: needs %d GPUs, %d visible\n", n, n, gpus);
      rows.push_back({{"ranks", n}, {"skipped", "needs " + std::to_string(n) + " GPUs"}});
      continue;
    }
    const Row row = n == 1 ? one_gpu(a, spec, run) : sharded(a, n, spec, run);
    const auto& s = row.result.stats;
    if (n == 1) single_ms = s.median_ms;
    device = row.result.device_name;
    const double speedup = single_ms ? *single_ms / s.median_ms : 0.0;
    std::printf("%6d %10.3f %9.3f %9.3f %12.0f %7.2fx %7.2f %12s %14lld %14lld\n", n, s.median_ms, s.p10_ms, s.p90_ms,
                row.result.tokens_per_second, speedup, speedup / n,
                n == 1 ? "-" : mlopt::human_bytes(row.weights_per_gpu).c_str(),
                static_cast<long long>(row.model_bytes), static_cast<long long>(row.counted_bytes));
    auto j = nlohmann::json::parse(mlopt::to_json(row.result));
    j["ranks"] = n;
    if (single_ms) j["speedup"] = speedup;
    j["weights_per_gpu_bytes"] = row.weights_per_gpu;
    j["model_bytes_sent_per_rank"] = row.model_bytes;
    j["counted_bytes_sent_per_rank"] = row.counted_bytes;
    rows.push_back(std::move(j));
  }
  if (!a.json.empty()) {
    const nlohmann::json doc = {{"benchmark", "tensor_parallel"}, {"model", a.model},   {"input", a.input},
                                {"dtype", a.dtype},               {"device", device},   {"gpus", gpus},
                                {"date", mlopt::utc_timestamp()}, {"sequence_parallel", a.sequence_parallel},
                                {"rows", rows}};
    mlopt::write_file_atomically(a.json, doc.dump(2) + "\n");
    std::printf("wrote %s\n", a.json.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"bench_tensor_parallel: tensor-parallel scaling of a model over 1, 2, 4, 8 GPUs (one rank per GPU, "
               "NCCL): latency, speedup and efficiency per count, with the communication model checked against "
               "counted bytes",
               "bench_tensor_parallel"};
  add_args(app, a);
  return mlopt::bench::bench_main(app, argc, argv, [&a] { return run_bench(a); });
}
