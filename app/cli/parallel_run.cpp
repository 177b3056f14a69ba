#include "parallel_run.h"

#include <chrono>
#include <iostream>
#include <mutex>
#include <optional>

#include "format.h"
#include "mlopt/core/environment.h"
#include "mlopt/core/error.h"
#include "mlopt/core/runner.h"
#include "mlopt/core/tcp_store.h"
#include "mlopt/core/tensor_parallel.h"
#include "mlopt/core/units.h"
#include "mlopt/parallel/nccl.h"
#include "transform_flags.h"

namespace mlopt::cli {
namespace {

std::vector<std::string>& stored_arguments() {
  static std::vector<std::string> args;
  return args;
}

RunOptions run_options(const ModelRunOptions& o) {
  RunOptions r;
  r.iterations = o.iterations;
  r.warmup = o.warmup;
  r.seed = o.seed;
  return r;
}

void print_result(const RunResult& r, int world, bool json) {
  if (json) {
    std::cout << to_json(r) << '\n';
    return;
  }
  const auto& s = r.stats;
  std::cout << "\n" << world << " ranks, rank 0's timing (" << r.stats.count << " iterations after "
            << r.warmup << " warm-up)\n"
            << table({"latency (ms)", "median", "p10", "p90", "min", "max"},
                     {{"forward", fixed(s.median_ms, 3), fixed(s.p10_ms, 3), fixed(s.p90_ms, 3), fixed(s.min_ms, 3),
                       fixed(s.max_ms, 3)}})
            << "\nthroughput  " << fixed(r.tokens_per_second, 1) << " tokens/s\n";
  if (r.peak_memory_bytes) std::cout << "memory      peak " << human_bytes(*r.peak_memory_bytes) << " on rank 0\n";
}

}  // namespace

void add_parallel_flags(CLI::App* sub, ParallelFlags& f) {
  sub->add_option("--tensor-parallel", f.tensor_parallel,
                  "Split attention heads and MLP features over N ranks in this process (one GPU each over NCCL, "
                  "or CPU threads); prints the plan and verifies before timing")
      ->check(CLI::PositiveNumber);
  sub->add_flag("--sequence-parallel", f.sequence_parallel,
                "With tensor parallelism: norms and residual adds on seq/N tokens per rank, reduce-scatter + "
                "all-gather instead of each all-reduce");
  sub->add_option("--ring-attention", f.ring_attention,
                  "Split the sequence over N ranks instead (zigzag for causal models), attention through a ring "
                  "of key/value blocks; weights replicated")
      ->check(CLI::PositiveNumber);
  f.nproc = sub->add_option("--nproc-per-node", f.launch.nproc_per_node,
                            "Start N processes on this node, one rank each (as torchrun), tensor parallel over all "
                            "ranks; a rank picks the GPU LOCAL_RANK")
                ->check(CLI::PositiveNumber);
  sub->add_option("--nnodes", f.launch.nnodes, "Nodes taking part (with --nproc-per-node)")->check(CLI::PositiveNumber);
  sub->add_option("--node-rank", f.launch.node_rank, "This node's index, 0-based (with --nproc-per-node)");
  sub->add_option("--master-addr", f.launch.master_addr, "Address of node 0, where rank 0 serves the TCP store");
  sub->add_option("--master-port", f.launch.master_port, "Port of the TCP store on node 0");
}

TensorParallelOptions ParallelFlags::strategy(int world) const {
  if (ring_attention > 1 && tensor_parallel > 1) {
    throw UsageError("--ring-attention and --tensor-parallel are not combined in this version: choose one");
  }
  if (sequence_parallel && ring_attention > 1) {
    throw UsageError("--ring-attention already splits the sequence: leave out --sequence-parallel");
  }
  const int asked = ring_attention > 1 ? ring_attention : tensor_parallel;
  if (world > 0 && asked > 1 && asked != world) {
    throw UsageError("--" + std::string(ring_attention > 1 ? "ring-attention " : "tensor-parallel ") +
                     std::to_string(asked) + " disagrees with the " + std::to_string(world) +
                     " ranks of WORLD_SIZE: every process of a multi-process run is one rank");
  }
  if (sequence_parallel && asked == 1 && world <= 1) {
    throw UsageError("--sequence-parallel needs --tensor-parallel N (N > 1) or --nproc-per-node");
  }
  TensorParallelOptions o;
  o.world_size = world > 0 ? world : asked;
  o.sequence_parallel = sequence_parallel;
  o.ring_attention = ring_attention > 1;
  return o;
}

void set_program_arguments(int argc, char** argv) {
  auto& args = stored_arguments();
  args.assign(argv, argv + argc);
}

std::vector<std::string> rank_arguments(const std::vector<std::string>& args) {
  static const std::vector<std::string> flags = {"--nproc-per-node", "--nnodes", "--node-rank", "--master-addr",
                                                 "--master-port"};
  std::vector<std::string> out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    bool skip = false;
    for (const auto& f : flags) {
      if (args[i] == f) {
        skip = true;
        ++i;  // its value
        break;
      }
      if (args[i].rfind(f + "=", 0) == 0) {
        skip = true;
        break;
      }
    }
    if (!skip) out.push_back(args[i]);
  }
  return out;
}

int launch_ranks(const ParallelFlags& flags) {
  const auto& all = stored_arguments();
  if (all.empty()) throw UsageError("the launcher needs the program's arguments");
  return launch_local_ranks(flags.launch, rank_arguments({all.begin() + 1, all.end()}));
}

void with_parallel_model(const ModelRunOptions& o, const ParallelFlags& flags, bool quiet,
                         const std::function<void(const Model& rank0, const InputSpec& spec)>& leader) {
  TensorParallelOptions options = flags.strategy(0);
  const int world = options.world_size;
  const InputSpec spec = o.spec();
  const Model model = o.load_model();
  const bool cuda = model.options().device.kind == DeviceKind::Cuda;
  if (cuda) {
    const int gpus = cuda_device_count();
    if (gpus < world) {
      throw UsageError(std::string(options.ring_attention ? "--ring-attention " : "--tensor-parallel ") +
                       std::to_string(world) + " runs one rank per GPU and this machine has " +
                       std::to_string(gpus) + "; --nproc-per-node with --nnodes spreads ranks over machines");
    }
    for (int r = 0; r < world; ++r) options.devices.push_back(Device{DeviceKind::Cuda, r});
  }
  const auto tp = shard_tensor_parallel(model, spec, options);
  if (!quiet) {
    std::cout << tp.plan().describe() << "\n";
    print_outcomes(tp.outcomes());
  }
  RankRunner ranks;
  std::optional<parallel::NcclGroup> nccl;
  std::optional<parallel::ThreadGroup> threads;
  if (cuda) {
    std::vector<int> devices;
    for (const auto& d : options.devices) devices.push_back(d.index);
    nccl.emplace(devices);
    ranks = [&](const std::function<void(parallel::Communicator&)>& fn) { nccl->run(fn); };
  } else {
    threads.emplace(world);
    ranks = [&](const std::function<void(parallel::Communicator&)>& fn) { threads->run(fn); };
  }
  run_led_by_rank0(tp, ranks, [&](const Model& rank0) { leader(rank0, spec); });
}

int run_parallel_here(const ModelRunOptions& o, const ParallelFlags& flags, bool json) {
  std::optional<RunResult> result;
  with_parallel_model(o, flags, json, [&](const Model& rank0, const InputSpec& spec) {
    result = run(rank0, spec, run_options(o));
  });
  print_result(*result, flags.strategy(0).world_size, json);
  return 0;
}

int run_as_rank(const ModelRunOptions& o, const ParallelFlags& flags, const parallel::World& world, bool json) {
  const TensorParallelOptions options = flags.strategy(world.world_size);
  ModelRunOptions mine = o;
  const Device wanted = parse_device(o.device);
  if (wanted.kind != DeviceKind::Cuda) {
    throw UsageError("a multi-process run communicates over NCCL and needs --device cuda (rank " +
                     std::to_string(world.rank) + " was given " + o.device + ")");
  }
  mine.device = "cuda:" + std::to_string(world.local_rank);
  const InputSpec spec = mine.spec();
  const Model model = mine.load_model();
  const auto tp = shard_one_rank(model, spec, options, world.rank);
  if (world.rank == 0 && !json) std::cout << tp.plan().describe() << "\n";
  auto store = tcp_store(world, std::chrono::seconds(300));
  auto comm = parallel::nccl_communicator(*store, world, world.local_rank);
  const auto result = tp.run(*comm, spec, run_options(mine));
  if (world.rank == 0) print_result(result, world.world_size, json);
  return 0;
}

}  // namespace mlopt::cli
