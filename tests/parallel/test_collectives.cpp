// The thread backend's typed collectives: the reference every other backend
// (NCCL) and every sharded algorithm is checked against.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "mlopt/kernels/half_bits.h"
#include "mlopt/parallel/communicator.h"

namespace {

using mlopt::parallel::Communicator;
using mlopt::parallel::ElementType;
using mlopt::parallel::ThreadGroup;

std::vector<float> random_values(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-2.0f, 2.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

TEST(Collectives, AllReduceSumsEveryTypeInRankOrder) {
  constexpr std::size_t n = 37;
  for (int ranks : {2, 4}) {
    std::vector<std::vector<float>> inputs;
    for (int r = 0; r < ranks; ++r) inputs.push_back(random_values(n, 100 + r));
    std::vector<float> expect(n, 0.0f);
    for (int r = 0; r < ranks; ++r)
      for (std::size_t i = 0; i < n; ++i) expect[i] += inputs[r][i];

    ThreadGroup group(ranks);
    std::vector<std::vector<float>> f32(ranks);
    std::vector<std::vector<uint16_t>> f16(ranks), b16(ranks);
    group.run([&](Communicator& comm) {
      const int r = comm.rank();
      f32[r] = inputs[r];
      comm.all_reduce_sum(f32[r].data(), n, ElementType::kFloat32);
      for (float x : inputs[r]) {
        f16[r].push_back(mlopt::kernels::float_to_half_bits(x));
        b16[r].push_back(mlopt::kernels::float_to_bf16_bits(x));
      }
      comm.all_reduce_sum(f16[r].data(), n, ElementType::kFloat16);
      comm.all_reduce_sum(b16[r].data(), n, ElementType::kBFloat16);
    });
    for (int r = 0; r < ranks; ++r) {
      EXPECT_EQ(f32[r], f32[0]) << "ranks must agree bit for bit";
      for (std::size_t i = 0; i < n; ++i) {
        EXPECT_NEAR(f32[r][i], expect[i], 1e-5);
        // The inputs were rounded once and the sum once more.
        EXPECT_NEAR(mlopt::kernels::half_bits_to_float(f16[r][i]), expect[i], 4e-3 * ranks);
        EXPECT_NEAR(mlopt::kernels::bf16_bits_to_float(b16[r][i]), expect[i], 3e-2 * ranks);
      }
    }
  }
}

TEST(Collectives, ReduceScatterThenAllGatherIsAllReduce) {
  constexpr int ranks = 4;
  constexpr std::size_t block = 5;
  ThreadGroup group(ranks);
  std::vector<std::vector<float>> scattered(ranks), gathered(ranks), reduced(ranks);
  group.run([&](Communicator& comm) {
    const int r = comm.rank();
    const auto mine = random_values(block * ranks, 7 + r);
    scattered[r].resize(block);
    comm.reduce_scatter_sum(mine.data(), scattered[r].data(), block, ElementType::kFloat32);
    gathered[r].resize(block * ranks);
    comm.all_gather(scattered[r].data(), gathered[r].data(), block, ElementType::kFloat32);
    reduced[r] = mine;
    comm.all_reduce_sum(reduced[r].data(), reduced[r].size(), ElementType::kFloat32);
  });
  for (int r = 0; r < ranks; ++r) {
    EXPECT_EQ(gathered[r], reduced[r]);
    // Rank r's block is block r of the sum.
    for (std::size_t i = 0; i < block; ++i) EXPECT_EQ(scattered[r][i], reduced[0][r * block + i]);
  }
}

TEST(Collectives, AllGatherConcatenatesInRankOrder) {
  ThreadGroup group(3);
  std::vector<std::vector<uint16_t>> out(3);
  group.run([&](Communicator& comm) {
    const uint16_t mine[2] = {static_cast<uint16_t>(10 * comm.rank()), static_cast<uint16_t>(10 * comm.rank() + 1)};
    out[comm.rank()].resize(6);
    comm.all_gather(mine, out[comm.rank()].data(), 2, ElementType::kFloat16);
  });
  for (const auto& o : out) EXPECT_EQ(o, (std::vector<uint16_t>{0, 1, 10, 11, 20, 21}));
}

}  // namespace
