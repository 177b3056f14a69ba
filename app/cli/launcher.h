#pragma once
// `mlopt run --nproc-per-node N [--nnodes M --node-rank R --master-addr A
// --master-port P]`: starts this node's N ranks as child processes with the
// environment torchrun gives its workers, forwards their output, and stops
// them all when one fails.
#include <string>
#include <utility>
#include <vector>

namespace mlopt::cli {

struct LaunchPlan {
  int nproc_per_node = 1;
  int nnodes = 1;
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // The program each rank runs; empty: this executable (/proc/self/exe).
  std::string program;
  // Where the ranks' output goes, each line prefixed "[rank R] ".
  int stdout_fd = 1;
  int stderr_fd = 2;
};

// Throws mlopt::UsageError naming the flag when the plan is impossible
// (N < 1, M < 1, node rank outside [0, M), port outside 1..65535, empty
// address).
void validate_launch_plan(const LaunchPlan& plan);

// The variables rank `local_rank` of this node gets: RANK, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT (the child picks its
// GPU from LOCAL_RANK). Validates the plan and the local rank.
std::vector<std::pair<std::string, std::string>> rank_environment(const LaunchPlan& plan, int local_rank);

// A child's whole environment: `parent` ("NAME=value" entries) without any of
// the variables above, then rank_environment's.
std::vector<std::string> child_environment(const LaunchPlan& plan, int local_rank,
                                           const std::vector<std::string>& parent);

// Runs plan.nproc_per_node children of plan.program with arguments `args`
// (argv[1..]; the caller strips the launcher's own flags) and waits for all.
// Returns 0 when every rank exited 0; otherwise the first failing rank's exit
// status (128 + signal when a signal ended it), after sending SIGTERM (then,
// 10 s later, SIGKILL) to the others and writing a line naming that rank to
// plan.stderr_fd. Throws mlopt::UsageError for a bad plan and mlopt::Error
// when a child cannot be started (the ones already started are stopped).
int launch_local_ranks(const LaunchPlan& plan, const std::vector<std::string>& args);

}  // namespace mlopt::cli
