// Ring attention on CPU ranks (threads): every rank's rows equal full
// attention over the whole sequence, for 2 and 4 ranks, causal (zigzag
// split) and not, with grouped-query heads; the thread communicator's
// collectives; lengths that do not split are refused.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <mutex>
#include <random>
#include <stdexcept>
#include <vector>

#include "mlopt/kernels/attention.h"
#include "mlopt/kernels/half_bits.h"
#include "mlopt/parallel/communicator.h"
#include "mlopt/parallel/ring_attention.h"

namespace {

using mlopt::parallel::Communicator;
using mlopt::parallel::RingAttentionShape;
using mlopt::parallel::ThreadGroup;

std::vector<uint16_t> random_bf16(std::size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<uint16_t> bits(n);
  for (auto& b : bits) b = mlopt::kernels::float_to_bf16_bits(dist(gen));
  return bits;
}

// Rows [from, from + count) of a [batch, heads, seq, dim] tensor, for every
// (batch, head), appended to `out`.
void append_rows(const std::vector<uint16_t>& t, int bh, int64_t seq, int dim, int64_t from, int64_t count,
                 std::vector<uint16_t>& out) {
  const int64_t base = (int64_t{bh} * seq + from) * dim;
  out.insert(out.end(), t.begin() + base, t.begin() + base + count * dim);
}

// One rank's local tensor: its chunks, in order, per (batch, head).
std::vector<uint16_t> local_part(const std::vector<uint16_t>& global, int batch_heads, int64_t seq, int dim,
                                 const mlopt::parallel::SequenceSplit& split, int rank) {
  std::vector<uint16_t> local;
  for (int bh = 0; bh < batch_heads; ++bh) {
    for (const int chunk : split.chunks_of(rank)) {
      append_rows(global, bh, seq, dim, chunk * split.chunk_len, split.chunk_len, local);
    }
  }
  return local;
}

struct Case {
  int world;
  bool causal;
};

class RingAttention : public testing::TestWithParam<Case> {};

TEST_P(RingAttention, EveryRankMatchesFullAttention) {
  const auto [world, causal] = GetParam();
  RingAttentionShape s;
  s.batch = 2;
  s.q_heads = 4;
  s.kv_heads = 2;
  s.seq_len = 8 * 2 * world;  // 8 tokens per chunk
  s.head_dim = 16;
  s.causal = causal;
  s.softmax_scale = 0.25f;
  s.dtype = mlopt::kernels::AttentionDType::kBFloat16;
  const auto q = random_bf16(std::size_t(s.batch) * s.q_heads * s.seq_len * s.head_dim, 1);
  const auto k = random_bf16(std::size_t(s.batch) * s.kv_heads * s.seq_len * s.head_dim, 2);
  const auto v = random_bf16(std::size_t(s.batch) * s.kv_heads * s.seq_len * s.head_dim, 3);

  // Full attention over the whole sequence.
  mlopt::kernels::AttentionParams p;
  p.q = q.data();
  p.k = k.data();
  p.v = v.data();
  p.q_strides = p.out_strides = mlopt::kernels::bhsd_strides(s.q_heads, int(s.seq_len), s.head_dim);
  p.k_strides = p.v_strides = mlopt::kernels::bhsd_strides(s.kv_heads, int(s.seq_len), s.head_dim);
  p.batch = s.batch;
  p.q_heads = s.q_heads;
  p.kv_heads = s.kv_heads;
  p.q_len = p.kv_len = int(s.seq_len);
  p.head_dim = s.head_dim;
  p.softmax_scale = s.softmax_scale;
  p.causal = causal;
  p.dtype = s.dtype;
  std::vector<float> full(q.size());
  mlopt::kernels::attention_reference_f32(p, full.data(), nullptr);

  const auto split = mlopt::parallel::split_sequence(s.seq_len, world, causal);
  EXPECT_EQ(split.zigzag, causal);
  std::vector<std::vector<float>> outs(static_cast<std::size_t>(world));
  ThreadGroup group(world);
  group.run([&](Communicator& comm) {
    const int r = comm.rank();
    const auto lq = local_part(q, s.batch * s.q_heads, s.seq_len, s.head_dim, split, r);
    const auto lk = local_part(k, s.batch * s.kv_heads, s.seq_len, s.head_dim, split, r);
    const auto lv = local_part(v, s.batch * s.kv_heads, s.seq_len, s.head_dim, split, r);
    outs[r].assign(lq.size(), std::numeric_limits<float>::quiet_NaN());
    mlopt::parallel::ring_attention_cpu(comm, s, lq.data(), lk.data(), lv.data(), outs[r].data());
  });

  double worst = 0;
  for (int r = 0; r < world; ++r) {
    std::size_t i = 0;
    for (int bh = 0; bh < s.batch * s.q_heads; ++bh) {
      for (const int chunk : split.chunks_of(r)) {
        for (int64_t row = 0; row < split.chunk_len; ++row) {
          const int64_t global_row = chunk * split.chunk_len + row;
          for (int d = 0; d < s.head_dim; ++d, ++i) {
            const float expected = full[(int64_t{bh} * s.seq_len + global_row) * s.head_dim + d];
            const float got = outs[r][i];
            ASSERT_TRUE(std::isfinite(got)) << "rank " << r << " row " << global_row;
            worst = std::max(worst, double(std::abs(got - expected)));
          }
        }
      }
    }
    EXPECT_EQ(i, outs[r].size());
  }
  // The same fp32 math from the same bf16 inputs; only the merge's rounding differs.
  EXPECT_LT(worst, 2e-5) << "world " << world << (causal ? " causal" : "");
}

INSTANTIATE_TEST_SUITE_P(Ranks, RingAttention,
                         testing::Values(Case{2, false}, Case{2, true}, Case{4, false}, Case{4, true}, Case{1, true}),
                         [](const auto& info) {
                           return std::to_string(info.param.world) + "Ranks" + (info.param.causal ? "Causal" : "Full");
                         });

TEST(RingAttentionSplit, ZigzagBalancesAndUnevenLengthsAreRefused) {
  const auto s = mlopt::parallel::split_sequence(64, 4, true);
  EXPECT_EQ(s.chunks, 8);
  EXPECT_EQ(s.chunk_len, 8);
  EXPECT_EQ(s.chunks_of(0), (std::vector<int>{0, 7}));
  EXPECT_EQ(s.chunks_of(3), (std::vector<int>{3, 4}));
  try {
    mlopt::parallel::split_sequence(30, 4, true);
    FAIL() << "30 tokens over 4 ranks (causal) was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("pad it to a multiple of 8"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(mlopt::parallel::split_sequence(12, 4, false));
  EXPECT_THROW(mlopt::parallel::split_sequence(10, 4, false), std::invalid_argument);
}

TEST(MergePartial, LogSumExpWeightsAndEmptyParts) {
  // Two halves of a softmax over keys with scores {0} and {log 3}: weights 1/4 and 3/4.
  std::vector<float> out = {1.0f, 2.0f}, lse = {0.0f};
  const std::vector<float> part = {5.0f, 6.0f}, part_lse = {std::log(3.0f)};
  mlopt::parallel::merge_partial(out.data(), lse.data(), part.data(), part_lse.data(), 1, 2);
  EXPECT_NEAR(out[0], 0.25f * 1 + 0.75f * 5, 1e-6);
  EXPECT_NEAR(out[1], 0.25f * 2 + 0.75f * 6, 1e-6);
  EXPECT_NEAR(lse[0], std::log(4.0f), 1e-6);
  // A part that saw no key changes nothing; an empty accumulator takes the part.
  const float minus_inf = -std::numeric_limits<float>::infinity();
  const std::vector<float> none_lse = {minus_inf};
  mlopt::parallel::merge_partial(out.data(), lse.data(), part.data(), none_lse.data(), 1, 2);
  EXPECT_NEAR(out[0], 4.0f, 1e-6);
  std::vector<float> empty = {0.0f, 0.0f}, empty_lse = {minus_inf};
  mlopt::parallel::merge_partial(empty.data(), empty_lse.data(), part.data(), part_lse.data(), 1, 2);
  EXPECT_EQ(empty[0], 5.0f);
  EXPECT_EQ(empty_lse[0], part_lse[0]);
}

TEST(ThreadGroup, RingExchangeAndAllReduce) {
  ThreadGroup group(4);
  std::vector<int> received(4, -1);
  std::vector<float> sums(4, 0);
  group.run([&](Communicator& comm) {
    int mine = 100 + comm.rank(), got = -1;
    comm.ring_exchange(&mine, &got, sizeof(int));
    received[comm.rank()] = got;
    float x[2] = {float(comm.rank()), 1.0f};
    comm.all_reduce_sum(x, 2);
    sums[comm.rank()] = x[0] + 10 * x[1];
  });
  EXPECT_EQ(received, (std::vector<int>{103, 100, 101, 102}));  // from rank - 1
  for (float s : sums) EXPECT_EQ(s, 6.0f + 40.0f);              // 0+1+2+3, and 4 ranks x 1
}

TEST(ThreadGroup, AFailingRankIsReportedAndReleasesTheOthers) {
  ThreadGroup group(3);
  EXPECT_THROW(group.run([](Communicator& comm) {
                 if (comm.rank() == 1) throw std::runtime_error("rank 1 failed");
                 float x = 1;
                 comm.all_reduce_sum(&x, 1);  // would wait for rank 1 forever without the release
               }),
               std::runtime_error);
  // The group is usable again.
  int calls = 0;
  std::mutex m;
  group.run([&](Communicator&) {
    std::lock_guard lock(m);
    ++calls;
  });
  EXPECT_EQ(calls, 3);
}

}  // namespace
