// The split-KV decode path behind attention_forward: its auto-dispatch
// policy, its limits, the split plan (attention_split_plan.h) and the
// dispatch on dtype and head_dim to the instantiations compiled in
// attention_decode_hdim*_*.cu.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "attention_dispatch.h"
#include "attention_split_plan.h"

namespace mlopt::kernels {
namespace attention_decode {
// Defined in attention_decode.cuh; explicitly instantiated, one per .cu file.
template <int kHeadDim, typename Element>
DecodeOccupancy decode_occupancy();
template <int kHeadDim, typename Element>
void launch_decode(const AttentionParams& params, cudaStream_t stream, int num_splits, float* workspace);
}  // namespace attention_decode

namespace {
using namespace attention_decode;

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument("attention (decode-split-kv): " + what); }

int64_t total_rows(const AttentionParams& p) { return int64_t{p.batch} * p.q_heads * p.q_len; }

// The shapes this path takes (params already validated).
void check_supported(const AttentionParams& p) {
  const int64_t rows = rows_per_group(p.q_len, p.q_heads, p.kv_heads);
  if (rows > kMaxRowsPerGroup) {
    fail("at most " + std::to_string(kMaxRowsPerGroup) +
         " query rows per kv-head group (q_len * q_heads / kv_heads) are supported, got " + std::to_string(rows) +
         " (q_len " + std::to_string(p.q_len) + ", " + std::to_string(p.q_heads / p.kv_heads) +
         " q heads per kv head): use the prefill kernel (AttentionImpl::kAuto or kPrefillMma)");
  }
  if (p.kv_heads > 65535 || p.batch > 65535) {
    fail("kv_heads and batch must be at most 65535 (grid limits), got kv_heads " + std::to_string(p.kv_heads) +
         ", batch " + std::to_string(p.batch));
  }
  if ((total_rows(p) + kCombineRowsPerBlock - 1) / kCombineRowsPerBlock > INT_MAX) {
    fail("batch * q_heads * q_len is too large for the combine grid");
  }
}

DecodeOccupancy occupancy(const AttentionParams& p) {
  const bool fp16 = p.dtype == AttentionDType::kFloat16;
  if (p.dtype != AttentionDType::kFloat16 && p.dtype != AttentionDType::kBFloat16) fail("unsupported dtype");
  switch (p.head_dim) {
    case 64: return fp16 ? decode_occupancy<64, __half>() : decode_occupancy<64, __nv_bfloat16>();
    case 128: return fp16 ? decode_occupancy<128, __half>() : decode_occupancy<128, __nv_bfloat16>();
    default: fail("head_dim " + std::to_string(p.head_dim) + " is not supported");
  }
}

// num_splits as asked (forced), or the auto plan for the current device.
int wanted_splits(const AttentionParams& p) {
  if (p.num_splits > 0) return p.num_splits;
  const DecodeOccupancy occ = occupancy(p);
  const int64_t blocks_per_split = int64_t{p.batch} * p.kv_heads * row_tiles(rows_per_group(p.q_len, p.q_heads, p.kv_heads));
  return auto_num_splits(blocks_per_split, p.kv_len, occ.sm_count, occ.blocks_per_sm);
}

}  // namespace

bool attention_dispatch::decode_preferred(const AttentionParams& params) {
  return prefers_decode(params.q_len, params.q_heads, params.kv_heads);
}

std::size_t attention_dispatch::decode_workspace_bytes(const AttentionParams& params) {
  check_supported(params);
  return workspace_bytes(wanted_splits(params), total_rows(params), params.head_dim);
}

void attention_dispatch::decode_split_kv(const AttentionParams& params, cudaStream_t stream, void* workspace,
                                         std::size_t workspace_size) {
  check_supported(params);
  // Short (or no) workspace: the most splits that fit, down to 1 (none needed).
  const int splits = splits_fitting(wanted_splits(params), workspace != nullptr ? workspace_size : 0,
                                    total_rows(params), params.head_dim);
  const int64_t tiles = row_tiles(rows_per_group(params.q_len, params.q_heads, params.kv_heads));
  if (int64_t{splits} * tiles > INT_MAX) {
    fail("num_splits " + std::to_string(splits) + " times " + std::to_string(tiles) +
         " row tiles exceeds the grid limit; ask for fewer splits");
  }
  if (splits > 1 && reinterpret_cast<std::uintptr_t>(workspace) % 16 != 0) {
    fail("the workspace must be 16-byte aligned (cudaMalloc gives 256)");
  }
  auto* partials = static_cast<float*>(workspace);
  const bool fp16 = params.dtype == AttentionDType::kFloat16;
  switch (params.head_dim) {
    case 64:
      fp16 ? launch_decode<64, __half>(params, stream, splits, partials)
           : launch_decode<64, __nv_bfloat16>(params, stream, splits, partials);
      return;
    case 128:
      fp16 ? launch_decode<128, __half>(params, stream, splits, partials)
           : launch_decode<128, __nv_bfloat16>(params, stream, splits, partials);
      return;
    default: fail("head_dim " + std::to_string(params.head_dim) + " is not supported");
  }
}

}  // namespace mlopt::kernels
