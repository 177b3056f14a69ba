// Ring attention on the GPU (ctest -L gpu): ranks simulated on one device
// through ThreadGroup(n, BufferSpace::kDevice), 1, 2 and 4 ranks, causal
// (zigzag) and not, grouped-query heads (8 q / 2 kv), fp16 and bf16, head
// dims 64 and 128, fresh random data: every rank's rows against attention
// over the whole sequence on the CPU. The merge kernel against its CPU
// reference, and that reference against merge_partial. What cannot run is
// refused before any communication.
//
// Tolerance of the ring. As in tests/kernels/test_attention_gpu.cpp, the
// bound is the error of naive attention in the dtype over the whole sequence
// plus one ulp of the dtype at max |ref| (the kernel's own error and the final
// rounding). The ring adds one thing: each pair's partial output is rounded
// to the dtype before the merge. A partial output is a convex combination of
// v rows, so |partial| <= max |v| and its rounding errs by at most half an
// ulp at max |v|; the merge is a convex combination of partials and keeps
// that bound. A masking or chunk-placement mistake moves rows by the size of
// the outputs themselves, far past it.
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "attention_test_support.h"
#include "mlopt/kernels/attention.h"
#include "mlopt/kernels/attention_merge.h"
#include "mlopt/kernels/cuda_check.h"
#include "mlopt/kernels/cuda_event.h"
#include "mlopt/kernels/poison.h"
#include "mlopt/parallel/communicator.h"
#include "mlopt/parallel/ring_attention.h"
#include "mlopt/parallel/ring_attention_cuda.h"

namespace {

using mlopt::kernels::AttentionDType;
using mlopt::kernels::AttentionMergeParams;
using mlopt::kernels::AttentionParams;
using mlopt::kernels::CudaStream;
using mlopt::kernels::LseStrides;
using mlopt::kernels::TensorStrides;
using mlopt::kernels::attention_test::DeviceBuffer;
using mlopt::kernels::attention_test::to_bits;
using mlopt::kernels::attention_test::to_float;
using mlopt::kernels::attention_test::ulp_at;
using mlopt::parallel::BufferSpace;
using mlopt::parallel::Communicator;
using mlopt::parallel::RingAttentionShape;
using mlopt::parallel::SequenceSplit;
using mlopt::parallel::ThreadGroup;

constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

std::vector<uint16_t> random_bits(std::size_t n, AttentionDType dtype, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<uint16_t> t(n);
  for (auto& x : t) x = to_bits(normal(rng), dtype);
  return t;
}

// One rank's local tensor: its chunks of every (batch, head), in order.
std::vector<uint16_t> local_part(const std::vector<uint16_t>& global, int batch_heads, int64_t seq, int dim,
                                 const SequenceSplit& split, int rank) {
  std::vector<uint16_t> local;
  for (int bh = 0; bh < batch_heads; ++bh) {
    for (const int chunk : split.chunks_of(rank)) {
      const int64_t base = (int64_t{bh} * seq + chunk * split.chunk_len) * dim;
      local.insert(local.end(), global.begin() + base, global.begin() + base + split.chunk_len * dim);
    }
  }
  return local;
}

// ---- the merge kernel ----------------------------------------------------

struct MergeCase {
  AttentionDType dtype;
  int head_dim;
  bool first;
  bool with_out;
};

// Strided everywhere: acc rows padded (head_dim + 4), acc lse every other
// float, out BSHD; part as attention_forward writes it (BHSD, lse contiguous).
void run_merge_case(const MergeCase& c, std::mt19937& rng) {
  SCOPED_TRACE(std::string(to_string(c.dtype)) + " d" + std::to_string(c.head_dim) + (c.first ? " first" : "") +
               (c.with_out ? " out" : ""));
  const int B = 2, H = 3, R = 37, D = c.head_dim;
  AttentionMergeParams p;
  p.batch = B;
  p.heads = H;
  p.rows = R;
  p.head_dim = D;
  p.dtype = c.dtype;
  p.first = c.first;
  p.part_strides = mlopt::kernels::bhsd_strides(H, R, D);
  p.part_lse_strides = mlopt::kernels::lse_strides_contiguous(H, R);
  const int64_t acc_row = D + 4;
  p.acc_strides = {int64_t{H} * R * acc_row, R * acc_row, acc_row, 1};
  p.acc_lse_strides = {int64_t{H} * R * 2, R * 2, 2};
  p.out_strides = mlopt::kernels::bshd_strides(H, R, D);
  const std::size_t part_n = std::size_t(B) * H * R * D, lse_n = std::size_t(B) * H * R;
  const std::size_t acc_n = std::size_t(B) * H * R * acc_row, acc_lse_n = 2 * lse_n;

  std::normal_distribution<float> normal(0.0f, 1.0f), lse_dist(0.0f, 3.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  const auto part = random_bits(part_n, c.dtype, rng);
  std::vector<float> part_lse(lse_n), acc(acc_n), acc_lse(acc_lse_n);
  // About 1 row in 8 of each side saw no key; the part of such a row is
  // zeros, as the attention kernel writes it.
  std::vector<uint16_t> part_bits = part;
  for (std::size_t r = 0; r < lse_n; ++r) {
    part_lse[r] = unit(rng) < 0.125f ? kMinusInf : lse_dist(rng);
    if (part_lse[r] == kMinusInf) std::fill_n(part_bits.begin() + r * D, D, uint16_t{0});
  }
  for (auto& x : acc) x = c.first ? std::numeric_limits<float>::quiet_NaN() : normal(rng);  // `first`: unset
  for (auto& x : acc_lse) x = c.first ? std::numeric_limits<float>::quiet_NaN() : (unit(rng) < 0.125f ? kMinusInf : lse_dist(rng));

  // CPU reference on copies.
  std::vector<float> ref_acc = acc, ref_acc_lse = acc_lse;
  std::vector<uint16_t> ref_out(part_n, mlopt::kernels::kPoisonWord);
  AttentionMergeParams hp = p;
  hp.part_out = part_bits.data();
  hp.part_lse = part_lse.data();
  hp.acc_out = ref_acc.data();
  hp.acc_lse = ref_acc_lse.data();
  hp.out = c.with_out ? ref_out.data() : nullptr;
  mlopt::kernels::attention_merge_reference(hp);

  CudaStream stream;
  DeviceBuffer d_part(part_n * 2), d_part_lse(lse_n * 4), d_acc(acc_n * 4), d_acc_lse(acc_lse_n * 4), d_out(part_n * 2);
  MLOPT_CUDA_CHECK(cudaMemcpyAsync(d_part.ptr, part_bits.data(), part_n * 2, cudaMemcpyHostToDevice, stream.get()));
  MLOPT_CUDA_CHECK(cudaMemcpyAsync(d_part_lse.ptr, part_lse.data(), lse_n * 4, cudaMemcpyHostToDevice, stream.get()));
  MLOPT_CUDA_CHECK(cudaMemcpyAsync(d_acc.ptr, acc.data(), acc_n * 4, cudaMemcpyHostToDevice, stream.get()));
  MLOPT_CUDA_CHECK(cudaMemcpyAsync(d_acc_lse.ptr, acc_lse.data(), acc_lse_n * 4, cudaMemcpyHostToDevice, stream.get()));
  mlopt::kernels::poison_device(d_out.ptr, d_out.bytes, stream.get());
  AttentionMergeParams dp = p;
  dp.part_out = d_part.ptr;
  dp.part_lse = static_cast<const float*>(d_part_lse.ptr);
  dp.acc_out = static_cast<float*>(d_acc.ptr);
  dp.acc_lse = static_cast<float*>(d_acc_lse.ptr);
  dp.out = c.with_out ? d_out.ptr : nullptr;
  mlopt::kernels::attention_merge(dp, stream.get());
  std::vector<float> got_acc(acc_n), got_acc_lse(acc_lse_n);
  std::vector<uint16_t> got_out(part_n);
  MLOPT_CUDA_CHECK(cudaMemcpyAsync(got_acc.data(), d_acc.ptr, acc_n * 4, cudaMemcpyDeviceToHost, stream.get()));
  MLOPT_CUDA_CHECK(cudaMemcpyAsync(got_acc_lse.data(), d_acc_lse.ptr, acc_lse_n * 4, cudaMemcpyDeviceToHost, stream.get()));
  MLOPT_CUDA_CHECK(cudaMemcpyAsync(got_out.data(), d_out.ptr, part_n * 2, cudaMemcpyDeviceToHost, stream.get()));
  stream.synchronize();

  int64_t bad = 0;
  auto report = [&bad](const std::string& what) {
    if (bad++ < 8) ADD_FAILURE() << what;
  };
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int r = 0; r < R; ++r) {
        const std::string where = " b" + std::to_string(b) + " h" + std::to_string(h) + " r" + std::to_string(r);
        const int64_t li = b * p.acc_lse_strides.batch + h * p.acc_lse_strides.head + r * p.acc_lse_strides.row;
        const float want_lse = ref_acc_lse[li], got_lse = got_acc_lse[li];
        // -inf must stay exactly -inf; expf/logf against std::exp/std::log: a few ulps.
        if (want_lse == kMinusInf ? got_lse != kMinusInf
                                  : !(std::abs(got_lse - want_lse) <= 1e-6f * std::max(1.0f, std::abs(want_lse)))) {
          report("lse" + where + ": " + std::to_string(got_lse) + " vs " + std::to_string(want_lse));
        }
        // The padding word between lse entries is untouched.
        const bool pad_same = std::isnan(acc_lse[li + 1]) ? std::isnan(got_acc_lse[li + 1])
                                                          : got_acc_lse[li + 1] == acc_lse[li + 1];
        if (!pad_same) report("lse padding" + where + " was written");
        for (int d = 0; d < D; ++d) {
          const int64_t ai = b * p.acc_strides.batch + h * p.acc_strides.head + r * p.acc_strides.row + d;
          const float want = ref_acc[ai], got = got_acc[ai];
          if (!(std::abs(got - want) <= 1e-5f * std::max(1.0f, std::abs(want)))) {
            report("acc" + where + " d" + std::to_string(d) + ": " + std::to_string(got) + " vs " + std::to_string(want));
          }
          if (!c.with_out) continue;
          const int64_t oi = b * p.out_strides.batch + h * p.out_strides.head + r * p.out_strides.row + d;
          const float want_out = to_float(ref_out[oi], c.dtype), got_out_v = to_float(got_out[oi], c.dtype);
          // fp32 values a few ulps apart may round to neighbouring dtype values.
          if (!(std::abs(got_out_v - want_out) <= ulp_at(std::abs(want_out), c.dtype))) {
            report("out" + where + " d" + std::to_string(d) + ": " + std::to_string(got_out_v) + " vs " +
                   std::to_string(want_out));
          }
        }
        for (int d = D; d < acc_row; ++d) {  // row padding is never written
          const int64_t ai = b * p.acc_strides.batch + h * p.acc_strides.head + r * p.acc_strides.row + d;
          const bool same = std::isnan(acc[ai]) ? std::isnan(got_acc[ai]) : got_acc[ai] == acc[ai];
          if (!same) report("acc padding" + where + " was written");
        }
      }
  EXPECT_EQ(bad, 0);
  if (!c.with_out) {
    EXPECT_EQ(mlopt::kernels::count_poisoned_host(got_out.data(), part_n * 2), part_n) << "out was written";
  }
}

TEST(AttentionMergeGpu, MatchesTheCpuReference) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(std::random_device{}());
  for (AttentionDType dtype : {AttentionDType::kFloat16, AttentionDType::kBFloat16})
    for (int head_dim : {64, 128, 72})
      for (bool first : {false, true})
        for (bool with_out : {true, false}) run_merge_case({dtype, head_dim, first, with_out}, rng);
}

// The CPU reference is merge_partial's arithmetic (no GPU needed).
TEST(AttentionMergeReference, EqualsMergePartial) {
  std::mt19937 rng(std::random_device{}());
  const int rows = 64, D = 16;
  std::normal_distribution<float> normal(0.0f, 1.0f), lse_dist(0.0f, 3.0f);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  for (AttentionDType dtype : {AttentionDType::kFloat16, AttentionDType::kBFloat16}) {
    std::vector<uint16_t> part_bits(std::size_t(rows) * D);
    std::vector<float> part(part_bits.size()), part_lse(rows), acc(part_bits.size()), acc_lse(rows);
    for (std::size_t i = 0; i < part_bits.size(); ++i) {
      part_bits[i] = to_bits(normal(rng), dtype);
      part[i] = to_float(part_bits[i], dtype);
      acc[i] = normal(rng);
    }
    for (int r = 0; r < rows; ++r) {
      part_lse[r] = r % 5 == 1 ? kMinusInf : lse_dist(rng);
      acc_lse[r] = r % 7 == 2 ? kMinusInf : lse_dist(rng);
    }
    std::vector<float> want = acc, want_lse = acc_lse;
    mlopt::parallel::merge_partial(want.data(), want_lse.data(), part.data(), part_lse.data(), rows, D);
    AttentionMergeParams p;
    p.part_out = part_bits.data();
    p.part_lse = part_lse.data();
    p.acc_out = acc.data();
    p.acc_lse = acc_lse.data();
    p.part_strides = p.acc_strides = mlopt::kernels::bhsd_strides(1, rows, D);
    p.part_lse_strides = p.acc_lse_strides = mlopt::kernels::lse_strides_contiguous(1, rows);
    p.batch = p.heads = 1;
    p.rows = rows;
    p.head_dim = D;
    p.dtype = dtype;
    mlopt::kernels::attention_merge_reference(p);
    for (int r = 0; r < rows; ++r) {
      if (want_lse[r] == kMinusInf) {
        EXPECT_EQ(acc_lse[r], kMinusInf) << "row " << r;
      } else {
        EXPECT_FLOAT_EQ(acc_lse[r], want_lse[r]) << "row " << r;
      }
      for (int d = 0; d < D; ++d) EXPECT_FLOAT_EQ(acc[r * D + d], want[r * D + d]) << "row " << r << " d " << d;
    }
    EXPECT_THROW(
        {
          AttentionMergeParams bad = p;
          bad.acc_strides.dim = 2;
          mlopt::kernels::attention_merge_reference(bad);
        },
        std::invalid_argument);
  }
}

// ---- ring attention --------------------------------------------------------

struct RingCase {
  AttentionDType dtype;
  int head_dim;
  bool causal;
  int64_t seq;
};

// One shape: the whole-sequence references once, then 1, 2 and 4 ranks.
void run_ring_case(const RingCase& c, std::mt19937& rng) {
  SCOPED_TRACE(std::string(to_string(c.dtype)) + " d" + std::to_string(c.head_dim) + " seq " +
               std::to_string(c.seq) + (c.causal ? " causal" : ""));
  RingAttentionShape s;
  s.batch = 1;
  s.q_heads = 8;
  s.kv_heads = 2;
  s.seq_len = c.seq;
  s.head_dim = c.head_dim;
  s.causal = c.causal;
  s.softmax_scale = 1.0f / std::sqrt(float(c.head_dim));
  s.dtype = c.dtype;
  const int S = static_cast<int>(c.seq), D = c.head_dim;
  const auto q = random_bits(std::size_t(s.batch) * s.q_heads * S * D, c.dtype, rng);
  const auto k = random_bits(std::size_t(s.batch) * s.kv_heads * S * D, c.dtype, rng);
  const auto v = random_bits(std::size_t(s.batch) * s.kv_heads * S * D, c.dtype, rng);

  AttentionParams p;
  p.q = q.data();
  p.k = k.data();
  p.v = v.data();
  p.q_strides = p.out_strides = mlopt::kernels::bhsd_strides(s.q_heads, S, D);
  p.k_strides = p.v_strides = mlopt::kernels::bhsd_strides(s.kv_heads, S, D);
  p.batch = s.batch;
  p.q_heads = s.q_heads;
  p.kv_heads = s.kv_heads;
  p.q_len = p.kv_len = S;
  p.head_dim = D;
  p.softmax_scale = s.softmax_scale;
  p.causal = c.causal;
  p.dtype = c.dtype;
  std::vector<float> ref(q.size()), naive(q.size());
  mlopt::kernels::attention_reference_f32(p, ref.data(), nullptr);
  mlopt::kernels::attention_test::naive_low_precision(p, naive);
  float max_v = 0;
  for (uint16_t x : v) max_v = std::max(max_v, std::abs(to_float(x, c.dtype)));

  for (int world : {1, 2, 4}) {
    SCOPED_TRACE(std::to_string(world) + " ranks");
    const SequenceSplit split = mlopt::parallel::split_sequence(s.seq_len, world, c.causal);
    std::vector<std::vector<uint16_t>> outs(static_cast<std::size_t>(world));
    ThreadGroup group(world, BufferSpace::kDevice);
    group.run([&](Communicator& comm) {
      const int r = comm.rank();
      const auto lq = local_part(q, s.batch * s.q_heads, S, D, split, r);
      const auto lk = local_part(k, s.batch * s.kv_heads, S, D, split, r);
      const auto lv = local_part(v, s.batch * s.kv_heads, S, D, split, r);
      CudaStream stream;
      DeviceBuffer dq(lq.size() * 2), dk(lk.size() * 2), dv(lv.size() * 2), dout(lq.size() * 2);
      MLOPT_CUDA_CHECK(cudaMemcpyAsync(dq.ptr, lq.data(), dq.bytes, cudaMemcpyHostToDevice, stream.get()));
      MLOPT_CUDA_CHECK(cudaMemcpyAsync(dk.ptr, lk.data(), dk.bytes, cudaMemcpyHostToDevice, stream.get()));
      MLOPT_CUDA_CHECK(cudaMemcpyAsync(dv.ptr, lv.data(), dv.bytes, cudaMemcpyHostToDevice, stream.get()));
      mlopt::kernels::poison_device(dout.ptr, dout.bytes, stream.get());  // an unwritten row shows as NaN
      // Two ranks use a caller workspace; the others let the call allocate.
      const std::size_t ws_bytes = world == 2 ? mlopt::parallel::ring_attention_cuda_workspace_bytes(s, world) : 0;
      DeviceBuffer ws(ws_bytes);
      mlopt::parallel::ring_attention_cuda(comm, s, dq.ptr, dk.ptr, dv.ptr, dout.ptr, stream.get(), ws.ptr, ws_bytes);
      outs[r].resize(lq.size());
      MLOPT_CUDA_CHECK(cudaMemcpyAsync(outs[r].data(), dout.ptr, dout.bytes, cudaMemcpyDeviceToHost, stream.get()));
      stream.synchronize();
    });

    double ours_err = 0, naive_err = 0;
    float max_ref = 0;
    int64_t non_finite = 0;
    for (int r = 0; r < world; ++r) {
      std::size_t i = 0;
      for (int bh = 0; bh < s.batch * s.q_heads; ++bh)
        for (const int chunk : split.chunks_of(r))
          for (int64_t row = 0; row < split.chunk_len; ++row)
            for (int d = 0; d < D; ++d, ++i) {
              const int64_t at = (int64_t{bh} * S + chunk * split.chunk_len + row) * D + d;
              const float got = to_float(outs[r][i], c.dtype);
              if (!std::isfinite(got)) {
                if (non_finite++ < 5) ADD_FAILURE() << "rank " << r << " bh " << bh << " row " << row << " = " << got;
                continue;
              }
              ours_err = std::max(ours_err, std::abs(double(got) - ref[at]));
              naive_err = std::max(naive_err, std::abs(double(naive[at]) - ref[at]));
              max_ref = std::max(max_ref, std::abs(ref[at]));
            }
      EXPECT_EQ(i, outs[r].size());
    }
    EXPECT_EQ(non_finite, 0);
    const double margin = ulp_at(max_ref, c.dtype) + 0.5 * ulp_at(max_v, c.dtype);
    EXPECT_LE(ours_err, naive_err + margin) << "max error ring " << ours_err << ", naive " << naive_err
                                            << ", margin " << margin;
  }
}

TEST(RingAttentionCuda, EveryRankMatchesFullAttention) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(std::random_device{}());
  for (AttentionDType dtype : {AttentionDType::kFloat16, AttentionDType::kBFloat16})
    for (int head_dim : {64, 128})
      for (bool causal : {false, true}) run_ring_case({dtype, head_dim, causal, head_dim == 64 ? 1024 : 512}, rng);
}

RingAttentionShape small_shape() {
  RingAttentionShape s;
  s.batch = 1;
  s.q_heads = 8;
  s.kv_heads = 2;
  s.seq_len = 512;
  s.head_dim = 128;
  s.causal = true;
  s.softmax_scale = 0.125f;
  s.dtype = AttentionDType::kBFloat16;
  return s;
}

// Refused before any device memory is touched: the pointers are never read.
TEST(RingAttentionCuda, RefusesWhatTheKernelsCannotDo) {
  SKIP_WITHOUT_GPU();
  DeviceBuffer buffer(1 << 20);
  const auto refuse = [&](int world, const RingAttentionShape& s, const std::string& says) {
    ThreadGroup group(world, BufferSpace::kDevice);
    try {
      group.run([&](Communicator& comm) {
        mlopt::parallel::ring_attention_cuda(comm, s, buffer.ptr, buffer.ptr, buffer.ptr, buffer.ptr, nullptr);
      });
      ADD_FAILURE() << "accepted; expected a refusal mentioning '" << says << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  RingAttentionShape uneven = small_shape();
  uneven.seq_len = 500;  // 8 zigzag chunks over 4 ranks do not divide 500
  refuse(4, uneven, "pad it to a multiple of 8");
  uneven.causal = false;
  uneven.seq_len = 513;
  refuse(2, uneven, "pad it to a multiple of 2");
  RingAttentionShape hdim = small_shape();
  hdim.head_dim = 96;
  refuse(2, hdim, "head_dim 96");
  RingAttentionShape heads = small_shape();
  heads.kv_heads = 3;
  refuse(2, heads, "must divide q_heads");
}

TEST(RingAttentionCuda, RefusesHostCommunicatorsAndShortWorkspaces) {
  const RingAttentionShape s = small_shape();
  ThreadGroup host(2);  // BufferSpace::kHost: ring_attention_cpu's communicator
  int dummy = 0;
  EXPECT_THROW(host.run([&](Communicator& comm) {
    mlopt::parallel::ring_attention_cuda(comm, s, &dummy, &dummy, &dummy, &dummy, nullptr);
  }),
               std::invalid_argument);
  EXPECT_THROW(mlopt::parallel::ring_attention_cuda_workspace_bytes(small_shape(), 3), std::invalid_argument);
}

TEST(RingAttentionCuda, CommunicationModelAndWorkspace) {
  RingAttentionShape s = small_shape();  // batch 1, 2 kv heads, 512 tokens, head_dim 128, 2-byte elements
  const auto m4 = mlopt::parallel::ring_attention_communication(s, 4);
  EXPECT_EQ(m4.steps, 3);
  // K and V of 128 local tokens (2 zigzag chunks of 64), 2 kv heads, 128 dims, 2 bytes each.
  EXPECT_EQ(m4.bytes_per_step, std::size_t{2} * 2 * 128 * 128 * 2);
  EXPECT_EQ(m4.bytes_sent_per_rank, 3 * m4.bytes_per_step);
  const auto m1 = mlopt::parallel::ring_attention_communication(s, 1);
  EXPECT_EQ(m1.steps, 0);
  EXPECT_EQ(m1.bytes_sent_per_rank, 0u);
  // Two K/V buffers only when there is a ring: 4 ranks need more than the
  // accumulator and one pair's output alone.
  const std::size_t one = mlopt::parallel::ring_attention_cuda_workspace_bytes(s, 1);
  const std::size_t acc = std::size_t{8} * 512 * 128 * 4 + std::size_t{8} * 512 * 4;  // fp32 out + lse, all rows
  EXPECT_GE(one, acc);
  const std::size_t four = mlopt::parallel::ring_attention_cuda_workspace_bytes(s, 4);
  EXPECT_GE(four, 2 * m4.bytes_per_step + std::size_t{8} * 128 * 128 * 4);
}

}  // namespace
