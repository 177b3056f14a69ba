#pragma once
// `mlopt run` over several ranks: --tensor-parallel N in this process (one
// thread per rank: one GPU each over NCCL, or CPU threads), and
// --nproc-per-node N (a process per rank, as torchrun starts them; each
// process runs the same command as one rank).
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "launcher.h"
#include "mlopt/core/tensor_parallel.h"
#include "model_options.h"
#include "mlopt/parallel/world.h"

namespace mlopt::cli {

struct ParallelFlags {
  int tensor_parallel = 1;
  bool sequence_parallel = false;
  int ring_attention = 1;
  // The ranks' strategy and count for this command (throws UsageError for a
  // combination it cannot run): tensor parallel (with or without sequence
  // parallelism) or ring attention.
  TensorParallelOptions strategy(int world) const;
  LaunchPlan launch;
  CLI::Option* nproc = nullptr;  // set: this call launches the ranks
};

void add_parallel_flags(CLI::App* sub, ParallelFlags& flags);

// argv as main() got it (set by main), for relaunching the ranks.
void set_program_arguments(int argc, char** argv);

// argv[1..] without the launcher's own flags (--nproc-per-node, --nnodes,
// --node-rank, --master-addr, --master-port, with "=" or a separate value).
std::vector<std::string> rank_arguments(const std::vector<std::string>& args);

// Starts this node's ranks with the current command (launcher flags stripped).
int launch_ranks(const ParallelFlags& flags);

// The whole group in this process (--tensor-parallel N or --ring-attention
// N): the plan, the joint verification, then every rank timed together;
// rank 0's result printed.
int run_parallel_here(const ModelRunOptions& options, const ParallelFlags& flags, bool json);

// Shards the model for `flags` (in this process) and calls `leader` with
// rank 0's model, whose every forward drives the other ranks: the plan and
// the transforms' outcomes are printed first unless `quiet`.
void with_parallel_model(const ModelRunOptions& options, const ParallelFlags& flags, bool quiet,
                         const std::function<void(const Model& rank0, const InputSpec& spec)>& leader);

// This process as rank world.rank (started by the launcher or torchrun):
// NCCL through the TCP store at MASTER_ADDR:MASTER_PORT, the GPU LOCAL_RANK.
// Rank 0 prints the plan and the result.
int run_as_rank(const ModelRunOptions& options, const ParallelFlags& flags, const parallel::World& world, bool json);

}  // namespace mlopt::cli
