// The ops a ring-attention rank's graph calls: its part of the sequence
// (zigzag for causal models), global positions for it, attention over the
// whole sequence by passing key/value blocks round the ring, and the whole
// output gathered back in sequence order.
//
//   mlopt::ring_split(Tensor x, int dim, int world_size, bool zigzag) -> Tensor
//   mlopt::ring_positions(Tensor p, int world_size, bool zigzag) -> Tensor
//   mlopt::ring_attention(Tensor q, Tensor k, Tensor v, bool is_causal=False,
//                         float? scale=None, int world_size=1) -> Tensor
//   mlopt::ring_rows(Tensor local, Tensor whole, int dim, int world_size,
//                    bool zigzag) -> Tensor
//   mlopt::ring_gather(Tensor x, int dim, int world_size, bool zigzag) -> Tensor
//
// CPU: the ring in ATen (fp32 math, the exchange through the communicator);
// CUDA: parallel::ring_attention_cuda (mlopt's kernel per block, the
// exchange on a second stream).
#include <torch/script.h>
#include <torch/version.h>

#include <cmath>
#include <limits>

#include "collective_ops.h"
#include "mlopt/core/collectives.h"
#include "mlopt/parallel/ring_attention.h"
#include "ring_attention_cuda_op.h"
#include "torch_optional.h"

namespace mlopt::ops {
namespace {

// The chunks (global index, local order) each rank holds for `local_len`
// tokens per rank.
parallel::SequenceSplit split_for(int64_t local_len, int64_t world, bool zigzag) {
  return parallel::split_sequence(local_len * world, static_cast<int>(world), zigzag);
}

// Global position of each of rank r's local tokens.
at::Tensor global_positions(int64_t local_len, int64_t world, bool zigzag, int rank, const at::Device& device) {
  const auto split = split_for(local_len, world, zigzag);
  std::vector<at::Tensor> parts;
  for (const int c : split.chunks_of(rank)) {
    parts.push_back(at::arange(c * split.chunk_len, (c + 1) * split.chunk_len, at::TensorOptions().dtype(at::kLong)));
  }
  return at::cat(parts).to(device);
}

}  // namespace

at::Tensor ring_split(const at::Tensor& x, int64_t dim, int64_t world_size, bool zigzag) {
  auto& comm = communicator_for("ring_split", x, world_size);
  const int64_t d = checked_dim(x, dim, world_size * (zigzag ? 2 : 1), "ring_split");
  const auto split = split_for(x.size(d) / world_size, world_size, zigzag);
  std::vector<at::Tensor> parts;
  for (const int c : split.chunks_of(comm.rank())) parts.push_back(x.narrow(d, c * split.chunk_len, split.chunk_len));
  return at::cat(parts, d);
}

at::Tensor ring_positions(const at::Tensor& p, int64_t world_size, bool zigzag) {
  auto& comm = communicator_for("ring_positions", p, world_size);
  TORCH_CHECK(!p.is_floating_point() && p.dim() >= 1, "mlopt::ring_positions: integer positions expected");
  const int64_t local = p.size(-1);
  // Local index i (p's values count from 0 here) -> its global position.
  const auto table = global_positions(local, world_size, zigzag, comm.rank(), p.device());
  return table.index_select(0, p.reshape({-1}).to(at::kLong)).reshape(p.sizes()).to(p.scalar_type());
}

// Rows of a position table (RoPE's cos/sin cache) for this rank's tokens:
// `local` is the table sliced to the local length, `whole` the table.
at::Tensor ring_rows(const at::Tensor& local, const at::Tensor& whole, int64_t dim, int64_t world_size, bool zigzag) {
  auto& comm = communicator_for("ring_rows", whole, world_size);
  const int64_t d = dim < 0 ? dim + whole.dim() : dim;
  TORCH_CHECK(d >= 0 && d < whole.dim(), "mlopt::ring_rows: dim ", dim, " of a ", whole.dim(), "-d table");
  const auto rows = global_positions(local.size(d), world_size, zigzag, comm.rank(), whole.device());
  TORCH_CHECK(rows.numel() == 0 || rows.max().item<int64_t>() < whole.size(d), "mlopt::ring_rows: the table has ",
              whole.size(d), " positions, fewer than the sequence");
  return whole.index_select(d, rows);
}

at::Tensor ring_gather(const at::Tensor& x, int64_t dim, int64_t world_size, bool zigzag) {
  const int64_t d = dim < 0 ? dim + x.dim() : dim;
  const at::Tensor all = all_gather(x, d, world_size);  // rank-major: each rank's chunks in its order
  const int64_t local = x.size(d);
  std::vector<at::Tensor> order;
  for (int r = 0; r < world_size; ++r) {
    order.push_back(global_positions(local, world_size, zigzag, r, at::kCPU));
  }
  // all[j] holds global position order[j]: invert the permutation.
  const auto where = at::cat(order);
  const auto inverse = at::empty_like(where);
  inverse.index_put_({where}, at::arange(where.numel(), where.options()));
  return all.index_select(d, inverse.to(x.device()));
}

at::Tensor ring_attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool is_causal,
                              std::optional<double> scale, int64_t world_size) {
  TORCH_CHECK(!scale || std::isfinite(*scale), "mlopt::ring_attention: the scale must be finite");
  auto& comm = communicator_for("ring_attention", q, world_size);
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "mlopt::ring_attention: q, k, v must be 4-d");
  TORCH_CHECK(q.size(1) % k.size(1) == 0, "mlopt::ring_attention: kv heads must divide q heads");
  const int64_t local = q.size(2);
  const double s = scale.value_or(1.0 / std::sqrt(static_cast<double>(q.size(3))));
  const auto qf = q.to(at::kFloat);
  const int64_t group = q.size(1) / k.size(1);
  const auto q_pos = global_positions(local, world_size, is_causal, comm.rank(), at::kCPU);
  // This rank's key/value block travels round the ring, fp32, contiguous.
  at::Tensor kv = at::stack({k.to(at::kFloat), v.to(at::kFloat)}).contiguous();
  at::Tensor next = at::empty_like(kv);
  at::Tensor out = at::zeros(qf.sizes(), qf.options());
  at::Tensor lse = at::full({q.size(0), q.size(1), local, 1}, -std::numeric_limits<float>::infinity(), qf.options());
  for (int64_t step = 0; step < world_size; ++step) {
    const int source = static_cast<int>((comm.rank() - step + world_size) % world_size);
    if (step + 1 < world_size) {
      comm.ring_exchange(kv.data_ptr(), next.data_ptr(), static_cast<std::size_t>(kv.numel()) * sizeof(float));
    }
    const auto kb = kv[0].repeat_interleave(group, 1);
    const auto vb = kv[1].repeat_interleave(group, 1);
    auto scores = at::matmul(qf, kb.transpose(-2, -1)) * s;
    if (is_causal) {
      const auto k_pos = global_positions(local, world_size, true, source, at::kCPU);
      const auto hidden = k_pos.unsqueeze(0) > q_pos.unsqueeze(1);  // [q, k]
      scores = scores.masked_fill(hidden.to(scores.device()), -std::numeric_limits<float>::infinity());
    }
    // Partial softmax over this block, merged by log-sum-exp; rows that see
    // no key of it have lse -inf and weigh nothing.
    const auto block_lse = at::logsumexp(scores, -1, true);
    const auto seen = at::isfinite(block_lse);
    const auto weights = at::exp(scores - at::where(seen, block_lse, at::zeros_like(block_lse)));
    const auto part = at::matmul(weights, vb);
    const auto merged = at::logaddexp(lse, block_lse);
    const auto keep = at::where(at::isfinite(merged), at::exp(lse - merged), at::zeros_like(merged));
    const auto take = at::where(at::isfinite(merged), at::exp(block_lse - merged), at::zeros_like(merged));
    out = out * keep + part * take;
    lse = merged;
    if (step + 1 < world_size) std::swap(kv, next);
  }
  return out.to(q.scalar_type());
}

bool ring_ops_registered() { return true; }

at::Tensor ring_attention_any(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool is_causal,
                              OptionalScale scale_arg, int64_t world_size) {
  const std::optional<double> scale = scale_arg ? std::optional<double>(*scale_arg) : std::nullopt;
#if MLOPT_TORCH_CUDA
  if (q.is_cuda()) return ring_attention_cuda_op(q, k, v, is_causal, scale, world_size);
#endif
  return ring_attention_cpu(q, k, v, is_causal, scale, world_size);
}

}  // namespace mlopt::ops

TORCH_LIBRARY_FRAGMENT(mlopt, m) {
  const auto conservative = c10::AliasAnalysisKind::CONSERVATIVE;  // collectives: never folded or reordered
  m.def(torch::schema("ring_split(Tensor x, int dim, int world_size, bool zigzag) -> Tensor", conservative));
  m.def(torch::schema("ring_positions(Tensor p, int world_size, bool zigzag) -> Tensor", conservative));
  m.def(torch::schema("ring_rows(Tensor local, Tensor whole, int dim, int world_size, bool zigzag) -> Tensor",
                      conservative));
  m.def(torch::schema("ring_gather(Tensor x, int dim, int world_size, bool zigzag) -> Tensor", conservative));
  m.def(torch::schema(
      "ring_attention(Tensor q, Tensor k, Tensor v, bool is_causal=False, float? scale=None, int world_size=1) -> Tensor",
      conservative));
}

TORCH_LIBRARY_IMPL(mlopt, CPU, m) {
  m.impl("ring_split", &mlopt::ops::ring_split);
  m.impl("ring_positions", &mlopt::ops::ring_positions);
  m.impl("ring_gather", &mlopt::ops::ring_gather);
  m.impl("ring_rows", &mlopt::ops::ring_rows);
  m.impl("ring_attention", &mlopt::ops::ring_attention_any);
}
#if MLOPT_TORCH_CUDA
TORCH_LIBRARY_IMPL(mlopt, CUDA, m) {
  m.impl("ring_split", &mlopt::ops::ring_split);
  m.impl("ring_positions", &mlopt::ops::ring_positions);
  m.impl("ring_gather", &mlopt::ops::ring_gather);
  m.impl("ring_rows", &mlopt::ops::ring_rows);
  m.impl("ring_attention", &mlopt::ops::ring_attention_any);
}
#endif
