#include "attention_split_plan.h"

#include <algorithm>

namespace mlopt::kernels::attention_decode {

int64_t rows_per_group(int q_len, int q_heads, int kv_heads) {
  return int64_t{q_len} * (kv_heads > 0 ? q_heads / kv_heads : 0);
}

int64_t row_tiles(int64_t rows) { return (rows + kRowsPerBlock - 1) / kRowsPerBlock; }

bool prefers_decode(int q_len, int q_heads, int kv_heads) {
  return q_len <= kMaxPreferredQueryLen && rows_per_group(q_len, q_heads, kv_heads) <= kMaxRowsPerGroup;
}

int auto_num_splits(int64_t blocks_per_split, int kv_len, int sm_count, int blocks_per_sm) {
  const int s_max = std::clamp(kv_len / kMinKeysPerSplit, 1, kMaxAutoSplits);
  if (s_max == 1 || blocks_per_split <= 0) return 1;
  const int64_t capacity = int64_t{std::max(sm_count, 1)} * std::max(blocks_per_sm, 1);
  const int64_t target = kMinWaves * capacity;
  const int s_lo = static_cast<int>(std::min<int64_t>(s_max, (target + blocks_per_split - 1) / blocks_per_split));
  const int s_hi = std::min(s_max, 2 * s_lo);
  // The fraction of block slots kept busy: blocks / (ceil(blocks / capacity) * capacity).
  auto fill = [&](int s) {
    const int64_t blocks = blocks_per_split * s;
    const int64_t waves = (blocks + capacity - 1) / capacity;
    return static_cast<double>(blocks) / static_cast<double>(waves * capacity);
  };
  int best = s_lo;
  double best_fill = fill(s_lo);
  for (int s = s_lo + 1; s <= s_hi; ++s) {
    const double f = fill(s);
    if (f > best_fill * (1.0 + 1e-9)) {  // strictly better: ties keep fewer splits
      best = s;
      best_fill = f;
    }
  }
  return best;
}

int keys_per_split(int kv_len, int num_splits) {
  const int s = std::max(num_splits, 1);
  return kv_len / s + (kv_len % s != 0 ? 1 : 0);
}

std::size_t workspace_lse_offset(int num_splits, int64_t rows, int head_dim) {
  if (num_splits <= 1) return 0;
  return static_cast<std::size_t>(num_splits) * static_cast<std::size_t>(rows) * static_cast<std::size_t>(head_dim) *
         sizeof(float);
}

std::size_t workspace_bytes(int num_splits, int64_t rows, int head_dim) {
  if (num_splits <= 1) return 0;
  return static_cast<std::size_t>(num_splits) * static_cast<std::size_t>(rows) *
         (static_cast<std::size_t>(head_dim) + 1) * sizeof(float);
}

int splits_fitting(int wanted, std::size_t available_bytes, int64_t rows, int head_dim) {
  if (wanted <= 1) return 1;
  const std::size_t per_split = workspace_bytes(2, rows, head_dim) / 2;
  if (per_split == 0) return wanted;
  const std::size_t fit = available_bytes / per_split;
  if (fit < 2) return 1;
  return static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(wanted), fit));
}

}  // namespace mlopt::kernels::attention_decode
