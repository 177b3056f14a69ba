#pragma once
// A Communicator that passes every operation to another and counts it: how
// many calls and how many bytes each kind of collective was given, and what
// that means on the wire with ring algorithms. The plans' communication
// models (tensor-parallel all-reduces, ring attention's K/V blocks) are
// checked against these counts.
#include <cstdint>

#include "mlopt/parallel/communicator.h"

namespace mlopt::parallel {

struct CollectiveTally {
  std::uint64_t calls = 0;
  std::uint64_t bytes = 0;  // the whole buffer: all-reduce's data, the full
                            // (size() x part) buffer of reduce-scatter and
                            // all-gather, a ring step's block
};

class CountingCommunicator final : public Communicator {
 public:
  explicit CountingCommunicator(Communicator& inner) : inner_(inner) {}
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  BufferSpace space() const override { return inner_.space(); }

  void ring_exchange(const void* send, void* recv, std::size_t bytes, void* stream) override;
  void all_reduce_sum(void* data, std::size_t count, ElementType type, void* stream) override;
  void reduce_scatter_sum(const void* send, void* recv, std::size_t recv_count, ElementType type,
                          void* stream) override;
  void all_gather(const void* send, void* recv, std::size_t send_count, ElementType type, void* stream) override;
  using Communicator::all_reduce_sum;

  const CollectiveTally& ring_exchanges() const { return ring_; }
  const CollectiveTally& all_reduces() const { return all_reduce_; }
  const CollectiveTally& reduce_scatters() const { return reduce_scatter_; }
  const CollectiveTally& all_gathers() const { return all_gather_; }
  // Bytes this rank sends with ring algorithms: an all-reduce of S bytes
  // 2 (N - 1) / N * S, a reduce-scatter or all-gather (N - 1) / N * S, a
  // ring step its block.
  std::uint64_t ring_bytes_sent() const;
  void reset() { ring_ = all_reduce_ = reduce_scatter_ = all_gather_ = {}; }

 private:
  Communicator& inner_;
  CollectiveTally ring_, all_reduce_, reduce_scatter_, all_gather_;
};

}  // namespace mlopt::parallel
