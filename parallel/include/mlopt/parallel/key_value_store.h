#pragma once
// The rendezvous a multi-process group needs: rank 0 publishes a value (the
// NCCL unique id) under a key and the other ranks wait for it. core provides
// one over libtorch's c10d::TCPStore (mlopt/core/tcp_store.h); tests use an
// in-memory one.
#include <chrono>
#include <string>
#include <vector>

namespace mlopt::parallel {

class KeyValueStore {
 public:
  virtual ~KeyValueStore() = default;
  virtual void set(const std::string& key, const std::vector<unsigned char>& value) = 0;
  // Waits until `key` is set, up to `timeout`; throws std::runtime_error
  // naming the key when it is not set in time.
  virtual std::vector<unsigned char> get(const std::string& key, std::chrono::milliseconds timeout) = 0;
};

}  // namespace mlopt::parallel
