// The resident GEMM's planner (MlpImpl::kResident, kernels/src/mlp_resident_plan.cpp):
// host-only, so it runs without a GPU.
#include <gtest/gtest.h>

#include <stdexcept>

#include "mlp_dispatch.h"

using namespace mlopt::kernels;
using mlp_detail::ResidentArgs;

namespace {

constexpr int kH100Sms = 132;

ResidentArgs projection(int m, int n, int k) {
  ResidentArgs r;
  r.m = m;
  r.n = n;
  r.k = k;
  return r;
}

}  // namespace

// Each tile size holds 216 KiB of operand steps: 8, 12, 16 steps of 64 for
// 128, 64, 32 tokens.
TEST(ResidentPlan, StepsPerTileFillTheSharedMemoryBudget) {
  EXPECT_EQ(mlp_detail::resident_max_steps(128), 8);
  EXPECT_EQ(mlp_detail::resident_max_steps(64), 12);
  EXPECT_EQ(mlp_detail::resident_max_steps(32), 16);
  for (int m : {128, 64, 32}) {
    EXPECT_LE(mlp_detail::resident_max_steps(m) * mlp_detail::resident_step_bytes(m), mlp_detail::kResidentSmemBytes);
  }
  EXPECT_EQ(mlp_detail::resident_block_m(1), 32);
  EXPECT_EQ(mlp_detail::resident_block_m(32), 32);
  EXPECT_EQ(mlp_detail::resident_block_m(33), 64);
  EXPECT_EQ(mlp_detail::resident_block_m(65), 128);
  EXPECT_EQ(mlp_detail::resident_block_m(1000), 128);
}

// GPT-2 small at 128 tokens on an H100: the down projection (12 tiles of
// 64 features, K = 3072: 48 steps) over 8 blocks of 6 steps, the up
// projection (48 tiles, K = 768: 12 steps) over 2 of 6: 96 blocks each.
TEST(ResidentPlan, Gpt2SmallAt128Tokens) {
  ResidentArgs down = projection(128, 768, 3072);
  mlp_detail::plan_resident(down, 0, kH100Sms);
  EXPECT_EQ(down.block_m, 128);
  EXPECT_EQ(down.splits, 8);
  EXPECT_EQ(down.k_tiles_per_split, 6);
  const dim3 grid = mlp_detail::resident_grid(down);
  EXPECT_EQ(grid.x, 12u);
  EXPECT_EQ(grid.y, 8u);
  EXPECT_EQ(grid.z, 1u);
  ResidentArgs up = projection(128, 3072, 768);
  mlp_detail::plan_resident(up, 0, kH100Sms);
  EXPECT_EQ(up.splits, 2);
  EXPECT_EQ(up.k_tiles_per_split, 6);
}

// A requested split count is raised to the fewest blocks that hold K and
// capped at the K steps and the 8 blocks of a portable cluster; no split
// is left empty.
TEST(ResidentPlan, RequestedSplitsAreRaisedAndCapped) {
  ResidentArgs r = projection(128, 768, 3072);  // 48 steps: at least 6 blocks of 8
  mlp_detail::plan_resident(r, 1, kH100Sms);
  EXPECT_EQ(r.splits, 6);
  EXPECT_EQ(r.k_tiles_per_split, 8);
  r = projection(100, 768, 200);  // 4 steps (the last one partial)
  mlp_detail::plan_resident(r, 1000, kH100Sms);
  EXPECT_EQ(r.splits, 4);
  EXPECT_EQ(r.k_tiles_per_split, 1);
  r = projection(100, 768, 520);  // 9 steps over at most 8 blocks: 5 blocks of 2, none empty
  mlp_detail::plan_resident(r, 8, kH100Sms);
  EXPECT_EQ(r.k_tiles_per_split, 2);
  EXPECT_EQ(r.splits, 5);
  EXPECT_EQ(mlp_detail::resident_grid(r).z, 1u);
  r = projection(300, 768, 520);
  mlp_detail::plan_resident(r, 0, kH100Sms);
  EXPECT_EQ(mlp_detail::resident_grid(r).z, 3u);  // tiles of 128 tokens
}

// The longest K a tile holds over 8 blocks: 4096 / 6144 / 8192 for tiles
// of 128 / 64 / 32 tokens; one step more cannot be planned.
TEST(ResidentPlan, LongestKFitsAndOneStepMoreThrows) {
  struct Limit {
    int m, k;
  };
  for (const Limit& l : {Limit{128, 4096}, Limit{64, 6144}, Limit{32, 8192}}) {
    EXPECT_TRUE(mlp_detail::resident_fits(l.k, mlp_detail::resident_block_m(l.m))) << l.m;
    EXPECT_FALSE(mlp_detail::resident_fits(l.k + 8, mlp_detail::resident_block_m(l.m))) << l.m;
    ResidentArgs r = projection(l.m, 768, l.k);
    mlp_detail::plan_resident(r, 0, kH100Sms);
    EXPECT_EQ(r.splits, 8) << l.m;
    EXPECT_EQ(r.k_tiles_per_split, mlp_detail::resident_max_steps(r.block_m)) << l.m;
    r = projection(l.m, 768, l.k + 8);
    EXPECT_THROW(mlp_detail::plan_resident(r, 0, kH100Sms), std::invalid_argument) << l.m;
  }
}
