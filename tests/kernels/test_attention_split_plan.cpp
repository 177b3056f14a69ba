// The split-KV decode path's host planning (kernels/src/attention_split_plan.h):
// auto-dispatch policy, the split count it picks, keys per split and the
// workspace layout. Runs without a GPU (CI).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>

#include "attention_split_plan.h"

using namespace mlopt::kernels::attention_decode;

TEST(AttentionSplitPlan, RowsPerGroupAndRowTiles) {
  EXPECT_EQ(rows_per_group(1, 32, 32), 1);
  EXPECT_EQ(rows_per_group(4, 32, 8), 16);
  EXPECT_EQ(rows_per_group(8, 8, 1), 64);
  EXPECT_EQ(row_tiles(1), 1);
  EXPECT_EQ(row_tiles(16), 1);
  EXPECT_EQ(row_tiles(17), 2);
  EXPECT_EQ(row_tiles(64), 4);
}

TEST(AttentionSplitPlan, PrefersDecodeForFewQueryRows) {
  EXPECT_TRUE(prefers_decode(1, 32, 32));   // MHA decode
  EXPECT_TRUE(prefers_decode(1, 32, 8));    // GQA decode, 4 rows per group
  EXPECT_TRUE(prefers_decode(1, 64, 1));    // MQA, 64 rows per group
  EXPECT_TRUE(prefers_decode(16, 32, 32));  // speculative / chunked decode, 16 queries
  EXPECT_TRUE(prefers_decode(4, 32, 4));    // 32 rows per group
  EXPECT_FALSE(prefers_decode(17, 32, 32));  // the prefill kernel's tiles start to fill
  EXPECT_FALSE(prefers_decode(2, 64, 1));    // 128 rows per group
  EXPECT_FALSE(prefers_decode(9, 8, 1));     // 72 rows per group
  EXPECT_FALSE(prefers_decode(512, 8, 8));   // prefill
}

TEST(AttentionSplitPlan, AutoSplitsOnAnH100LikeDevice) {
  // 132 SMs, 2 resident decode blocks each: one wave is 264 blocks.
  // MHA batch 8 x 32 heads over 8192 keys: 256 blocks per split; 3 splits
  // give 768 blocks (2.9 waves) of 2731 keys each.
  EXPECT_EQ(auto_num_splits(256, 8192, 132, 2), 3);
  // Batch 1 x 32 heads: 24 splits (768 blocks, the last wave 91% full) of 342 keys.
  EXPECT_EQ(auto_num_splits(32, 8192, 132, 2), 24);
  // GQA batch 1 x 8 kv heads: capped by kMinKeysPerSplit at 8192 / 256 = 32.
  EXPECT_EQ(auto_num_splits(8, 8192, 132, 2), 32);
  // Plenty of blocks already (batch 64 x 32 heads: 7.8 waves; 2 splits fill no better): no split.
  EXPECT_EQ(auto_num_splits(2048, 8192, 132, 2), 1);
  // Short caches never split: fewer than 2 * kMinKeysPerSplit keys.
  EXPECT_EQ(auto_num_splits(1, 511, 132, 2), 1);
  EXPECT_EQ(auto_num_splits(1, 512, 132, 2), 2);
  EXPECT_EQ(auto_num_splits(1, 1, 132, 2), 1);
}

TEST(AttentionSplitPlan, AutoSplitsKeepTheirPromises) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int64_t> blocks_dist(1, 5000);
  std::uniform_int_distribution<int> kv_dist(1, 200000), sm_dist(1, 200), bps_dist(0, 8);
  for (int trial = 0; trial < 20000; ++trial) {
    const int64_t blocks = blocks_dist(rng);
    const int kv_len = kv_dist(rng), sms = sm_dist(rng), bps = bps_dist(rng);
    const int s = auto_num_splits(blocks, kv_len, sms, bps);
    SCOPED_TRACE("blocks " + std::to_string(blocks) + " kv " + std::to_string(kv_len) + " sms " +
                 std::to_string(sms) + " per sm " + std::to_string(bps) + " -> " + std::to_string(s));
    ASSERT_GE(s, 1);
    ASSERT_LE(s, kMaxAutoSplits);
    if (s > 1) {
      // Every split keeps at least kMinKeysPerSplit keys.
      ASSERT_GE(kv_len / s, kMinKeysPerSplit);
    }
    // Enough waves whenever the key count allows that many splits.
    const int64_t capacity = int64_t{sms} * std::max(bps, 1);
    const int s_max = std::min(kMaxAutoSplits, std::max(1, kv_len / kMinKeysPerSplit));
    if (blocks * s_max >= kMinWaves * capacity) {
      ASSERT_GE(blocks * s, kMinWaves * capacity);
    } else {
      ASSERT_EQ(s, s_max);
    }
  }
}

TEST(AttentionSplitPlan, KeysPerSplit) {
  EXPECT_EQ(keys_per_split(8192, 3), 2731);
  EXPECT_EQ(keys_per_split(8192, 1), 8192);
  EXPECT_EQ(keys_per_split(100, 3), 34);
  EXPECT_EQ(keys_per_split(7, 64), 1);  // splits 7..63 are empty
  EXPECT_EQ(keys_per_split(1, 3), 1);
}

TEST(AttentionSplitPlan, WorkspaceLayout) {
  EXPECT_EQ(workspace_bytes(1, 100, 128), 0u);  // one split writes the output directly
  EXPECT_EQ(workspace_bytes(3, 10, 128), std::size_t{3} * 10 * 129 * 4);
  EXPECT_EQ(workspace_lse_offset(3, 10, 128), std::size_t{3} * 10 * 128 * 4);
  EXPECT_EQ(workspace_lse_offset(7, 3, 64) % 16, 0u);  // the lse part stays 16-byte aligned
  EXPECT_EQ(workspace_bytes(7, 3, 64) - workspace_lse_offset(7, 3, 64), std::size_t{7} * 3 * 4);
}

TEST(AttentionSplitPlan, SplitsFittingAWorkspace) {
  const int64_t rows = 12;
  const int d = 64;
  EXPECT_EQ(splits_fitting(8, workspace_bytes(8, rows, d), rows, d), 8);
  EXPECT_EQ(splits_fitting(8, workspace_bytes(8, rows, d) * 4, rows, d), 8);  // never more than asked
  EXPECT_EQ(splits_fitting(8, workspace_bytes(5, rows, d), rows, d), 5);
  EXPECT_EQ(splits_fitting(8, workspace_bytes(5, rows, d) + 100, rows, d), 5);
  EXPECT_EQ(splits_fitting(8, workspace_bytes(2, rows, d), rows, d), 2);
  EXPECT_EQ(splits_fitting(8, workspace_bytes(2, rows, d) - 1, rows, d), 1);  // one needs none
  EXPECT_EQ(splits_fitting(8, 0, rows, d), 1);
  EXPECT_EQ(splits_fitting(1, 1 << 20, rows, d), 1);
  for (int s = 2; s <= 64; ++s) EXPECT_LE(workspace_bytes(splits_fitting(64, workspace_bytes(s, rows, d), rows, d), rows, d), workspace_bytes(s, rows, d));
}
