#include "mlopt/core/tcp_store.h"

#include <string>

#include "mlopt/core/error.h"

#if MLOPT_TORCH_HAS_C10D
#include <c10/util/Exception.h>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace mlopt {

#if MLOPT_TORCH_HAS_C10D
namespace {

// c10 errors carry a C++ backtrace in what(); users get the message alone.
std::string reason(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) return c10_error->what_without_backtrace();
  return e.what();
}

class TcpKeyValueStore final : public parallel::KeyValueStore {
 public:
  TcpKeyValueStore(c10::intrusive_ptr<c10d::TCPStore> store, std::string where)
      : store_(std::move(store)), where_(std::move(where)) {}

  void set(const std::string& key, const std::vector<unsigned char>& value) override {
    try {
      store_->set(key, value);
    } catch (const std::exception& e) {
      throw Error("setting '" + key + "' in the TCP store at " + where_ +
                  " failed (is rank 0 still running?): " + reason(e));
    }
  }

  std::vector<unsigned char> get(const std::string& key, std::chrono::milliseconds timeout) override {
    try {
      // wait() takes its own timeout; get() alone would wait for the
      // store-wide one given at construction.
      store_->wait({key}, timeout);
    } catch (const std::exception& e) {
      throw Error("key '" + key + "' was not set in the TCP store at " + where_ + " within " +
                  std::to_string(timeout.count()) + " ms (was the rank that sets it started, with the same " +
                  "MASTER_ADDR/MASTER_PORT?): " + reason(e));
    }
    try {
      return store_->get(key);
    } catch (const std::exception& e) {
      throw Error("reading '" + key + "' from the TCP store at " + where_ + " failed: " + reason(e));
    }
  }

 private:
  c10::intrusive_ptr<c10d::TCPStore> store_;
  std::string where_;
};

}  // namespace

bool tcp_store_available() { return true; }

std::unique_ptr<parallel::KeyValueStore> tcp_store(const parallel::World& world, std::chrono::milliseconds timeout) {
  const std::string where = world.master_addr + ":" + std::to_string(world.master_port);
  if (world.master_port < 1 || world.master_port > 65535) {
    throw Error("TCP store port " + std::to_string(world.master_port) + " is out of range 1..65535 (MASTER_PORT)");
  }
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(world.master_port);
  options.isServer = world.rank == 0;
  options.numWorkers = static_cast<std::size_t>(world.world_size);
  options.waitWorkers = false;  // the NCCL rendezvous itself waits for every rank
  options.timeout = timeout;
  try {
    auto store = c10::make_intrusive<c10d::TCPStore>(world.master_addr, options);
    return std::make_unique<TcpKeyValueStore>(std::move(store), where);
  } catch (const std::exception& e) {
    if (world.rank == 0) {
      throw Error("rank 0 could not start the TCP store server on " + where +
                  " (is the port in use, or MASTER_ADDR not an address of this "
                  "machine?): " +
                  reason(e));
    }
    throw Error("rank " + std::to_string(world.rank) + " could not reach the TCP store at " + where + " within " +
                std::to_string(timeout.count()) + " ms (check MASTER_ADDR/MASTER_PORT, that rank 0 was started, " +
                "and that no firewall blocks the port): " + reason(e));
  }
}

#else  // libtorch without distributed support

bool tcp_store_available() { return false; }

std::unique_ptr<parallel::KeyValueStore> tcp_store(const parallel::World& world, std::chrono::milliseconds) {
  throw Error(
      "this libtorch has no distributed support (c10d), so mlopt cannot start "
      "the TCP store on " +
      world.master_addr + ":" + std::to_string(world.master_port) +
      ": use a libtorch built with USE_DISTRIBUTED (the PyTorch wheels are)");
}

#endif

}  // namespace mlopt
