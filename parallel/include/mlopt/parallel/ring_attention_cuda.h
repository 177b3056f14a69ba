#pragma once
// Ring attention on GPUs: ring_attention_cpu's algorithm (ring_attention.h)
// with mlopt's attention kernel per (query chunk, key chunk) block and the
// log-sum-exp merge kernel (kernels/attention_merge.h), the K/V exchange
// overlapping the compute.
//
// Each rank holds two K/V buffers. At step s the compute stream (the caller's)
// runs attention of the local query chunks against the key chunks of the
// block held now, writing each visible pair's output and lse, and folds it
// into an fp32 accumulator; meanwhile a second stream passes the held block
// to the next rank and receives the previous rank's into the other buffer.
// Events order the exchange after the compute stream's last reads of the
// buffer it overwrites, and the next step's compute after the exchange.
// The last merge of each query chunk writes the caller's output directly.
//
// Which keys a query chunk sees is decided from the chunks' global indices
// (all, its own causal diagonal, or none: that pair is skipped), as the CPU
// version does, so the result equals attention over the whole sequence.
#include <cuda_runtime_api.h>

#include <cstddef>

#include "mlopt/parallel/communicator.h"
#include "mlopt/parallel/ring_attention.h"

namespace mlopt::parallel {

// What one ring_attention_cuda call moves, per rank: world - 1 steps, each
// sending the K and V blocks the rank holds ([batch, kv_heads, local_len,
// head_dim] each, 2-byte elements) to the next rank and receiving as many.
struct RingCommunicationModel {
  int steps = 0;                     // world - 1
  std::size_t bytes_per_step = 0;    // K and V of one local block
  std::size_t bytes_sent_per_rank = 0;  // steps * bytes_per_step (received: the same)
};
// Throws std::invalid_argument as split_sequence does for an uneven split.
RingCommunicationModel ring_attention_communication(const RingAttentionShape& shape, int world);

// Device scratch memory (bytes) ring_attention_cuda needs on each rank:
// two K/V buffers (world > 1), one block's partial output and lse, and the
// fp32 accumulator for the local rows with their lse. Validates like the call.
std::size_t ring_attention_cuda_workspace_bytes(const RingAttentionShape& shape, int world);

// One rank's part of attention over the whole sequence, on its GPU. q, k, v
// and out are device pointers in the local layout ring_attention_cpu
// documents: q and out [batch, q_heads, local_len, head_dim], k and v
// [batch, kv_heads, local_len, head_dim], contiguous, holding the chunks
// split_sequence(seq_len, comm.size(), causal).chunks_of(comm.rank()) in that
// order; out is written in the input dtype (fp16/bf16).
//
// Enqueued on `stream` (the ring exchanges run on a stream of their own, as
// the communicator enqueues them, and are joined back into `stream`); the
// result is ready when `stream` reaches the end of the call, and k and v may
// be overwritten from then on. `workspace` (device, 256-byte aligned, at
// least ring_attention_cuda_workspace_bytes) is used if given; otherwise the
// call allocates it with cudaMallocAsync on `stream` and frees it there.
//
// Every rank of `comm` calls it with the same shape. Throws
// std::invalid_argument before any communication for what the kernels cannot
// do (comm.space() not kDevice, head_dim other than 64/128, an unknown
// dtype, kv_heads not dividing q_heads, a sequence that does not split
// evenly, a chunk longer than INT_MAX, null pointers, a short or misaligned
// workspace); CudaError for CUDA failures; the communicator's errors.
void ring_attention_cuda(Communicator& comm, const RingAttentionShape& shape, const void* q, const void* k,
                         const void* v, void* out, cudaStream_t stream, void* workspace = nullptr,
                         std::size_t workspace_bytes = 0);

}  // namespace mlopt::parallel
