#pragma once
// Ring attention: the sequence split across ranks; each rank keeps its
// queries and passes key/value blocks round the ring, computing attention of
// its queries against the block it holds and merging the partial results by
// their log-sum-exp (in fp32), so no rank ever holds the whole sequence's
// keys and values. Positions stay global: the causal mask is decided per
// (query chunk, key chunk) pair from their places in the whole sequence.
//
// Causal attention gives the ranks holding the end of the sequence the most
// work; the zigzag split balances it: with N ranks the sequence is cut into
// 2N chunks and rank r holds chunks r and 2N-1-r. Non-causal attention uses
// N contiguous chunks.
//
// This file is the algorithm on the CPU (mlopt's attention reference for each
// block, any Communicator); the GPU version runs mlopt's kernel per block
// with the exchange on a second stream.
#include <cstdint>
#include <vector>

#include "mlopt/kernels/attention.h"
#include "mlopt/parallel/communicator.h"

namespace mlopt::parallel {

struct SequenceSplit {
  int world = 1;
  int chunks = 1;          // N (contiguous) or 2N (zigzag)
  int64_t chunk_len = 0;   // tokens per chunk
  bool zigzag = false;
  // The global chunk indices rank `rank` holds, in the order its local
  // tensors store them.
  std::vector<int> chunks_of(int rank) const;
  int64_t local_len() const { return chunk_len * (zigzag ? 2 : 1); }
};

// Throws std::invalid_argument, saying what would divide, when `seq_len`
// does not split evenly (causal: into 2 * world chunks; else into world).
SequenceSplit split_sequence(int64_t seq_len, int world, bool causal);

struct RingAttentionShape {
  int batch = 0;
  int q_heads = 0;
  int kv_heads = 0;  // divides q_heads
  int64_t seq_len = 0;  // the whole sequence (queries and keys alike)
  int head_dim = 0;
  bool causal = false;
  float softmax_scale = 0.0f;
  kernels::AttentionDType dtype = kernels::AttentionDType::kBFloat16;
};

// The kernel parameters of one (query chunk, key chunk) block of `shape`
// with chunks of `chunk_len` tokens: heads, lengths, scale, dtype, and
// causal when the pair is a chunk's own diagonal (equal lengths: the
// kernel's bottom-right alignment is that diagonal). Pointers and strides
// are the caller's.
kernels::AttentionParams block_attention_params(const RingAttentionShape& shape, int64_t chunk_len, bool diagonal);

// One rank's part of the attention over the whole sequence. Its local q
// ([batch, q_heads, local_len, head_dim]), k and v ([batch, kv_heads,
// local_len, head_dim]) hold the chunks `split_sequence(...).chunks_of(rank)`
// in that order, contiguous, as fp16/bf16 bits; `out` receives the fp32
// result for those rows ([batch, q_heads, local_len, head_dim]). Every rank
// of `comm` must call it with the same shape.
void ring_attention_cpu(Communicator& comm, const RingAttentionShape& shape, const uint16_t* q, const uint16_t* k,
                        const uint16_t* v, float* out);

// Folds a partial result (attention over some of the keys) into an
// accumulated one: out = (e^lse_acc out_acc + e^lse_part out_part) /
// (e^lse_acc + e^lse_part), lse = log of the denominator; rows that saw no
// key have lse = -inf and weigh nothing. `rows` rows of `head_dim`.
void merge_partial(float* out_acc, float* lse_acc, const float* out_part, const float* lse_part, int64_t rows,
                   int head_dim);

}  // namespace mlopt::parallel
