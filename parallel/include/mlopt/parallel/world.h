#pragma once
// Where this process sits in a multi-process run: rank, world size, local
// rank and the rendezvous address, read from the variables torchrun (and
// `mlopt run --nproc-per-node`) set: RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT.
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

namespace mlopt::parallel {

class WorldError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct World {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;

  bool is_distributed() const { return world_size > 1; }
  int node_rank() const { return rank / local_world_size; }
  int nodes() const { return world_size / local_world_size; }
};

// A lookup of environment variables (std::getenv by default; tests pass a map).
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup process_environment();

// A single process (rank 0 of 1) when none of the variables is set. Throws
// WorldError naming the variable when one is malformed, some but not all of
// RANK/WORLD_SIZE are set, or the values contradict each other.
World world_from_environment(const EnvLookup& env = process_environment());

}  // namespace mlopt::parallel
