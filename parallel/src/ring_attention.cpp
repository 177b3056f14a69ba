#include "mlopt/parallel/ring_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace mlopt::parallel {

std::vector<int> SequenceSplit::chunks_of(int rank) const {
  if (zigzag) return {rank, 2 * world - 1 - rank};
  return {rank};
}

SequenceSplit split_sequence(int64_t seq_len, int world, bool causal) {
  if (world < 1) throw std::invalid_argument("ring attention needs at least 1 rank, got " + std::to_string(world));
  SequenceSplit s;
  s.world = world;
  s.zigzag = causal;
  s.chunks = causal ? 2 * world : world;
  if (seq_len <= 0 || seq_len % s.chunks != 0) {
    throw std::invalid_argument(
        "ring attention over " + std::to_string(world) + " ranks splits the sequence into " +
        std::to_string(s.chunks) + " equal chunks" + (causal ? " (2 per rank, zigzag, for causal balance)" : "") +
        ", and a sequence of " + std::to_string(seq_len) + " tokens does not divide: pad it to a multiple of " +
        std::to_string(s.chunks));
  }
  s.chunk_len = seq_len / s.chunks;
  return s;
}

kernels::AttentionParams block_attention_params(const RingAttentionShape& shape, int64_t chunk_len, bool diagonal) {
  kernels::AttentionParams p;
  p.batch = shape.batch;
  p.q_heads = shape.q_heads;
  p.kv_heads = shape.kv_heads;
  p.q_len = p.kv_len = static_cast<int>(chunk_len);
  p.head_dim = shape.head_dim;
  p.softmax_scale = shape.softmax_scale;
  p.causal = diagonal;
  p.dtype = shape.dtype;
  return p;
}

void merge_partial(float* out_acc, float* lse_acc, const float* out_part, const float* lse_part, int64_t rows,
                   int head_dim) {
  const float minus_inf = -std::numeric_limits<float>::infinity();
  for (int64_t r = 0; r < rows; ++r) {
    const float a = lse_acc[r], b = lse_part[r];
    if (b == minus_inf) continue;  // the part saw no key
    float* o = out_acc + r * head_dim;
    const float* p = out_part + r * head_dim;
    if (a == minus_inf) {
      std::memcpy(o, p, sizeof(float) * static_cast<std::size_t>(head_dim));
      lse_acc[r] = b;
      continue;
    }
    const float m = std::max(a, b);
    const float wa = std::exp(a - m), wb = std::exp(b - m);
    const float inv = 1.0f / (wa + wb);
    for (int d = 0; d < head_dim; ++d) o[d] = (wa * o[d] + wb * p[d]) * inv;
    lse_acc[r] = m + std::log(wa + wb);
  }
}

namespace {

enum class Visibility { kAll, kDiagonal, kNone };

// Which keys of global chunk `key` the queries of global chunk `query` see.
Visibility visibility(int query, int key, bool causal) {
  if (!causal || key < query) return Visibility::kAll;
  return key == query ? Visibility::kDiagonal : Visibility::kNone;
}

}  // namespace

void ring_attention_cpu(Communicator& comm, const RingAttentionShape& s, const uint16_t* q, const uint16_t* k,
                        const uint16_t* v, float* out) {
  if (s.kv_heads <= 0 || s.q_heads % s.kv_heads != 0) {
    throw std::invalid_argument("ring attention: kv_heads must divide q_heads");
  }
  const SequenceSplit split = split_sequence(s.seq_len, comm.size(), s.causal);
  const int64_t C = split.chunk_len, L = split.local_len(), D = s.head_dim;
  const auto mine = split.chunks_of(comm.rank());
  const std::size_t kv_elems = static_cast<std::size_t>(s.batch) * s.kv_heads * L * D;

  // The K/V block held at this step, and where the next one arrives.
  std::vector<uint16_t> k_cur(k, k + kv_elems), v_cur(v, v + kv_elems), k_next(kv_elems), v_next(kv_elems);
  const std::size_t out_elems = static_cast<std::size_t>(s.batch) * s.q_heads * L * D;
  std::fill(out, out + out_elems, 0.0f);
  const int64_t lse_rows = int64_t{s.batch} * s.q_heads * L;
  std::vector<float> lse(static_cast<std::size_t>(lse_rows), -std::numeric_limits<float>::infinity());
  std::vector<float> part_out(static_cast<std::size_t>(s.batch) * s.q_heads * C * D);
  std::vector<float> part_lse(static_cast<std::size_t>(s.batch) * s.q_heads * C);

  const kernels::TensorStrides q_strides{int64_t{s.q_heads} * L * D, L * D, D, 1};
  const kernels::TensorStrides kv_strides{int64_t{s.kv_heads} * L * D, L * D, D, 1};
  const kernels::TensorStrides part_strides = kernels::bhsd_strides(s.q_heads, static_cast<int>(C), s.head_dim);

  for (int step = 0; step < comm.size(); ++step) {
    const int source = (comm.rank() - step + comm.size()) % comm.size();
    const auto theirs = split.chunks_of(source);
    for (std::size_t a = 0; a < mine.size(); ++a) {
      for (std::size_t b = 0; b < theirs.size(); ++b) {
        const auto seen = visibility(mine[a], theirs[b], s.causal);
        if (seen == Visibility::kNone) continue;
        kernels::AttentionParams p = block_attention_params(s, C, seen == Visibility::kDiagonal);
        p.q = q + static_cast<int64_t>(a) * C * D;
        p.k = k_cur.data() + static_cast<int64_t>(b) * C * D;
        p.v = v_cur.data() + static_cast<int64_t>(b) * C * D;
        p.q_strides = q_strides;
        p.k_strides = p.v_strides = kv_strides;
        p.out_strides = part_strides;
        kernels::attention_reference_f32(p, part_out.data(), part_lse.data());
        // Fold each (batch, head)'s C rows into this chunk's rows of out.
        for (int bh = 0; bh < s.batch * s.q_heads; ++bh) {
          const int64_t row0 = int64_t{bh} * L + static_cast<int64_t>(a) * C;
          merge_partial(out + row0 * D, lse.data() + row0, part_out.data() + int64_t{bh} * C * D,
                        part_lse.data() + int64_t{bh} * C, C, s.head_dim);
        }
      }
    }
    if (step + 1 < comm.size()) {
      comm.ring_exchange(k_cur.data(), k_next.data(), kv_elems * sizeof(uint16_t));
      comm.ring_exchange(v_cur.data(), v_next.data(), kv_elems * sizeof(uint16_t));
      k_cur.swap(k_next);
      v_cur.swap(v_next);
    }
  }
}

}  // namespace mlopt::parallel
