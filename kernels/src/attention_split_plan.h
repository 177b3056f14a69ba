#pragma once
// Host-side planning for the split-KV (flash-decoding) attention path in
// attention_decode.cuh: which shapes it takes, how many blocks share one KV
// sequence, and the workspace that needs. Pure arithmetic without CUDA, so
// CI tests it (tests/kernels/test_attention_split_plan.cpp).
//
// Vocabulary. A kv-head group is the q heads that read one kv head (q_heads /
// kv_heads of them); its "rows" are those heads' query rows, group * q_len.
// A block serves kRowsPerBlock rows of one group (one row tile) over one KV
// chunk (one split), so each K/V byte it loads feeds all of those rows.
#include <cstddef>
#include <cstdint>

#include "occupancy.h"

namespace mlopt::kernels::attention_decode {

// Query rows per block: one mma.m16n8k16 M tile. Fewer rows are padded (the
// padding costs tensor-core work only, which a memory-bound kernel has to spare).
inline constexpr int kRowsPerBlock = 16;

// Most rows per kv-head group the decode path accepts (4 row tiles). Each
// further row tile re-reads the group's K/V (from L2, mostly: the row tiles
// of one split are neighbouring blocks); past 64 rows the prefill kernel,
// whose tiles are 64+ query rows, is the right tool.
inline constexpr int kMaxRowsPerGroup = 64;

// Auto-dispatch takes the decode path when q_len <= this (and the group's
// rows fit kMaxRowsPerGroup): the prefill kernels tile 64 or 128 query rows
// of ONE q head, so at q_len <= 16 they waste >= 75% of their work, read
// K/V once per q head instead of once per group, and launch too few blocks
// (batch * q_heads) to fill the GPU over a long KV cache.
inline constexpr int kMaxPreferredQueryLen = 16;

// Split planning (auto): every split keeps at least this many keys, so the
// per-block fixed costs (Q load, pipeline fill, the cross-warp merge, the
// partial write and its share of the combine kernel) stay small against
// streaming K/V; and at most this many splits.
inline constexpr int kMinKeysPerSplit = 256;
inline constexpr int kMaxAutoSplits = 128;
// Blocks >= this many waves of the device's resident-block capacity, so
// that blocks finishing unevenly (DRAM channel contention, clocks) leave
// short tails and no SM idles while others stream.
inline constexpr int kMinWaves = 2;

// The combine kernel merges the splits of this many rows per block (one warp each).
inline constexpr int kCombineRowsPerBlock = 4;

// group * q_len (int64: never overflows).
int64_t rows_per_group(int q_len, int q_heads, int kv_heads);
// Row tiles (blocks) per group: ceil(rows / kRowsPerBlock).
int64_t row_tiles(int64_t rows_per_group);
// The auto-dispatch policy (see kMaxPreferredQueryLen).
bool prefers_decode(int q_len, int q_heads, int kv_heads);

// What the planner needs to know of the device (attention_decode.cuh's
// decode_occupancy() reads it): SMs, and decode blocks resident per SM.
using DecodeOccupancy = detail::Occupancy;

// Splits the auto policy picks for `blocks_per_split` blocks per split
// (batch * kv_heads * row tiles) over `kv_len` keys on a device with
// `sm_count` SMs, each holding `blocks_per_sm` decode blocks at once
// (occupancy). Let capacity = sm_count * blocks_per_sm (one wave) and
// s_max = clamp(kv_len / kMinKeysPerSplit, 1, kMaxAutoSplits):
//   s_lo = the fewest splits giving >= kMinWaves waves of blocks (<= s_max);
//   then among s in [s_lo, min(2 s_lo, s_max)] the one whose last wave is
//   fullest (blocks / (ceil(waves) * capacity), the fraction of the block
//   slots the grid keeps busy when blocks take equal time); ties go to fewer
//   splits (less workspace, smaller combine).
int auto_num_splits(int64_t blocks_per_split, int kv_len, int sm_count, int blocks_per_sm);

// Keys per split: ceil(kv_len / num_splits). Split s covers keys
// [s * k, min(kv_len, (s + 1) * k)); with more splits than keys the last
// ones are empty (they write lse = -inf partials, which the merge skips).
int keys_per_split(int kv_len, int num_splits);

// Workspace layout for num_splits > 1 (rows = batch * q_heads * q_len, the
// flat row index (b * q_heads + h) * q_len + i, as for lse):
//   [0, O)        partial outputs, fp32 [num_splits][rows][head_dim], each
//                 normalised by its own split's softmax sum (zeros for a row
//                 that sees no key in that split)
//   [O, O + L)    partial lse, fp32 [num_splits][rows], natural log of the
//                 split's sum of exp(scale q.k) (-inf: no key seen)
// O = num_splits * rows * head_dim * 4 bytes (a multiple of 16, so the lse
// part stays aligned), L = num_splits * rows * 4. One split needs nothing.
std::size_t workspace_bytes(int num_splits, int64_t rows, int head_dim);
std::size_t workspace_lse_offset(int num_splits, int64_t rows, int head_dim);

// The most splits <= `wanted` whose workspace fits `available_bytes`; 1
// (which needs none) when not even two fit.
int splits_fitting(int wanted, std::size_t available_bytes, int64_t rows, int head_dim);

}  // namespace mlopt::kernels::attention_decode
