#include "mlopt/parallel/counting_communicator.h"

namespace mlopt::parallel {
namespace {

void add(CollectiveTally& t, std::uint64_t bytes) {
  ++t.calls;
  t.bytes += bytes;
}

}  // namespace

void CountingCommunicator::ring_exchange(const void* send, void* recv, std::size_t bytes, void* stream) {
  add(ring_, bytes);
  inner_.ring_exchange(send, recv, bytes, stream);
}

void CountingCommunicator::all_reduce_sum(void* data, std::size_t count, ElementType type, void* stream) {
  add(all_reduce_, count * element_bytes(type));
  inner_.all_reduce_sum(data, count, type, stream);
}

void CountingCommunicator::reduce_scatter_sum(const void* send, void* recv, std::size_t recv_count, ElementType type,
                                              void* stream) {
  add(reduce_scatter_, recv_count * static_cast<std::uint64_t>(size()) * element_bytes(type));
  inner_.reduce_scatter_sum(send, recv, recv_count, type, stream);
}

void CountingCommunicator::all_gather(const void* send, void* recv, std::size_t send_count, ElementType type,
                                      void* stream) {
  add(all_gather_, send_count * static_cast<std::uint64_t>(size()) * element_bytes(type));
  inner_.all_gather(send, recv, send_count, type, stream);
}

std::uint64_t CountingCommunicator::ring_bytes_sent() const {
  const std::uint64_t n = static_cast<std::uint64_t>(size());
  return all_reduce_.bytes * 2 * (n - 1) / n + (reduce_scatter_.bytes + all_gather_.bytes) * (n - 1) / n +
         ring_.bytes;
}

}  // namespace mlopt::parallel
