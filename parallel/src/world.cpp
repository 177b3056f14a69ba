#include "mlopt/parallel/world.h"

#include <charconv>
#include <cstdlib>

namespace mlopt::parallel {
namespace {

int parse_int(const std::string& name, const std::string& value, int min, int max) {
  int out = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc() || ptr != value.data() + value.size() || out < min || out > max) {
    throw WorldError("environment variable " + name + "='" + value + "' must be an integer in [" +
                     std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return out;
}

}  // namespace

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    if (const char* v = std::getenv(name.c_str())) return std::string(v);
    return std::nullopt;
  };
}

World world_from_environment(const EnvLookup& env) {
  World w;
  const auto rank = env("RANK");
  const auto size = env("WORLD_SIZE");
  if (!rank && !size) return w;
  if (!rank || !size) {
    throw WorldError(std::string("RANK and WORLD_SIZE must be set together (only ") + (rank ? "RANK" : "WORLD_SIZE") +
                     " is set); launch with torchrun or mlopt run --nproc-per-node");
  }
  constexpr int kMaxRanks = 1 << 20;
  w.world_size = parse_int("WORLD_SIZE", *size, 1, kMaxRanks);
  w.rank = parse_int("RANK", *rank, 0, w.world_size - 1);
  w.local_world_size = w.world_size;
  if (const auto lws = env("LOCAL_WORLD_SIZE")) w.local_world_size = parse_int("LOCAL_WORLD_SIZE", *lws, 1, w.world_size);
  if (w.world_size % w.local_world_size != 0) {
    throw WorldError("WORLD_SIZE=" + std::to_string(w.world_size) + " is not a multiple of LOCAL_WORLD_SIZE=" +
                     std::to_string(w.local_world_size) + ": every node must run the same number of processes");
  }
  w.local_rank = w.rank % w.local_world_size;
  if (const auto lr = env("LOCAL_RANK")) {
    w.local_rank = parse_int("LOCAL_RANK", *lr, 0, w.local_world_size - 1);
    if (w.local_rank != w.rank % w.local_world_size) {
      throw WorldError("LOCAL_RANK=" + *lr + " does not fit RANK=" + *rank + " with " +
                       std::to_string(w.local_world_size) + " processes per node");
    }
  }
  if (const auto addr = env("MASTER_ADDR")) {
    if (addr->empty()) throw WorldError("MASTER_ADDR is set but empty");
    w.master_addr = *addr;
  }
  if (const auto port = env("MASTER_PORT")) w.master_port = parse_int("MASTER_PORT", *port, 1, 65535);
  return w;
}

}  // namespace mlopt::parallel
