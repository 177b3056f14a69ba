#pragma once
// NCCL communicators: one process driving several GPUs (one rank per GPU,
// each on its own thread), or one rank per process across processes and
// nodes with the NCCL unique id exchanged through a key-value store.
//
// Built when NCCL is found (MLOPT_PARALLEL_HAS_NCCL=1); otherwise every entry
// point throws NcclError saying how to build with it.
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <vector>

#include "mlopt/parallel/communicator.h"
#include "mlopt/parallel/key_value_store.h"
#include "mlopt/parallel/world.h"

namespace mlopt::parallel {

// An NCCL call failed (the message names the call and NCCL's reason), or
// NCCL is not part of this build.
class NcclError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

bool nccl_available();  // this build has NCCL

// One process, one rank per listed GPU (ncclCommInitAll).
class NcclGroup {
 public:
  // Throws NcclError (no NCCL, a device listed twice or missing, init failure).
  explicit NcclGroup(std::vector<int> devices);
  ~NcclGroup();
  NcclGroup(const NcclGroup&) = delete;
  NcclGroup& operator=(const NcclGroup&) = delete;

  int size() const;
  // Runs `fn` once per rank, each on its own thread with its GPU current,
  // and waits for all. The Communicator's buffers are device memory of that
  // GPU and its operations are enqueued on the stream passed to them. An
  // exception on any rank aborts the communicators (so no rank waits forever
  // in a collective) and is rethrown here; the group cannot be used again
  // after that.
  void run(const std::function<void(Communicator&)>& fn);

  struct State;

 private:
  std::unique_ptr<State> state_;
};

// This process's rank of `world` on GPU `device`: rank 0 creates the NCCL
// unique id and publishes it in `store` (key kNcclUniqueIdKey); the others
// wait for it there up to `rendezvous_timeout`. Returns once every rank has
// joined; keep rank 0's store alive until then. The communicator's buffers
// are device memory of `device`; it is destroyed with the returned object
// (aborted instead when an exception is unwinding).
inline constexpr const char* kNcclUniqueIdKey = "mlopt/nccl/unique_id";
std::unique_ptr<Communicator> nccl_communicator(KeyValueStore& store, const World& world, int device);
std::unique_ptr<Communicator> nccl_communicator(KeyValueStore& store, const World& world, int device,
                                                std::chrono::milliseconds rendezvous_timeout);

}  // namespace mlopt::parallel
