#pragma once
// The rendezvous store of a multi-process run over libtorch's c10d::TCPStore:
// rank 0 serves it on MASTER_ADDR:MASTER_PORT, every rank (rank 0 included)
// is a client. nccl_communicator() exchanges the NCCL unique id through it.
#include <chrono>
#include <memory>

#include "mlopt/parallel/key_value_store.h"
#include "mlopt/parallel/world.h"

namespace mlopt {

// True when this libtorch has c10d (distributed support); tcp_store() throws
// otherwise.
bool tcp_store_available();

// Rank 0 of `world` starts the server on world.master_addr:master_port (for
// world.world_size workers, without waiting for them) and connects to it;
// the other ranks connect, retrying for up to `timeout`. Rank 0's store must
// outlive the other ranks' use of it. Throws mlopt::Error naming host:port
// and what to check when the server cannot start or be reached.
std::unique_ptr<parallel::KeyValueStore> tcp_store(const parallel::World& world, std::chrono::milliseconds timeout);

}  // namespace mlopt
