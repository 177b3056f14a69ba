// The log-sum-exp merge of partial attention results (attention_merge.h).
// Memory-bound: one warp per row, its lanes striding over head_dim, so the
// row's lse is read once per lane and written by lane 0 after the whole warp
// has read it (the __syncwarp below); rows never share memory.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <climits>
#include <cstdint>

#include "mlopt/kernels/attention_merge.h"
#include "mlopt/kernels/cuda_check.h"

namespace mlopt::kernels {
namespace {

constexpr int kWarpsPerBlock = 8;

__device__ inline float widen(__half x) { return __half2float(x); }
__device__ inline float widen(__nv_bfloat16 x) { return __bfloat162float(x); }
template <typename Element>
__device__ inline Element narrow(float x);
template <>
__device__ inline __half narrow<__half>(float x) {
  return __float2half_rn(x);
}
template <>
__device__ inline __nv_bfloat16 narrow<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

template <typename Element>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    attention_merge_kernel(const AttentionMergeParams p, const int64_t total_rows) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  const float minus_inf = -INFINITY;
  const auto* part = static_cast<const Element*>(p.part_out);
  auto* out = static_cast<Element*>(p.out);
  for (int64_t row = int64_t{blockIdx.x} * kWarpsPerBlock + warp; row < total_rows;
       row += int64_t{gridDim.x} * kWarpsPerBlock) {
    // row = (b * heads + h) * rows + r
    const int64_t r = row % p.rows;
    const int64_t bh = row / p.rows;
    const int64_t h = bh % p.heads;
    const int64_t b = bh / p.heads;
    const Element* pr = part + b * p.part_strides.batch + h * p.part_strides.head + r * p.part_strides.row;
    float* ar = p.acc_out + b * p.acc_strides.batch + h * p.acc_strides.head + r * p.acc_strides.row;
    float* acc_lse = p.acc_lse + b * p.acc_lse_strides.batch + h * p.acc_lse_strides.head + r * p.acc_lse_strides.row;
    const float lb = p.part_lse[b * p.part_lse_strides.batch + h * p.part_lse_strides.head + r * p.part_lse_strides.row];
    const float la = p.first ? minus_inf : *acc_lse;
    // As the CPU reference (merge_partial's cases): a part that saw no key
    // keeps the accumulator (zeros and -inf when `first`); an empty
    // accumulator takes the part (its memory unread: unset when `first`).
    const bool keep = !p.first && lb == minus_inf;
    const bool zero = p.first && lb == minus_inf;
    const bool take = !keep && !zero && la == minus_inf;
    const bool both = !keep && !zero && !take;
    const float m = fmaxf(la, lb);
    const float ea = both ? expf(la - m) : 0.0f;
    const float eb = both ? expf(lb - m) : 0.0f;
    const float inv = both ? 1.0f / (ea + eb) : 0.0f;
    Element* orow = out != nullptr ? out + b * p.out_strides.batch + h * p.out_strides.head + r * p.out_strides.row
                                   : nullptr;
    for (int d = lane; d < p.head_dim; d += 32) {
      const float pv = widen(pr[d]);
      const float merged = keep ? ar[d] : (zero ? 0.0f : (take ? pv : (ea * ar[d] + eb * pv) * inv));
      if (!keep) ar[d] = merged;
      if (orow != nullptr) orow[d] = narrow<Element>(merged);
    }
    __syncwarp();  // every lane has read *acc_lse before lane 0 replaces it
    if (lane == 0 && !keep) *acc_lse = zero ? minus_inf : (take ? lb : m + logf(ea + eb));
  }
}

}  // namespace

void attention_merge(const AttentionMergeParams& params, cudaStream_t stream) {
  validate(params);
  const int64_t total_rows = int64_t{params.batch} * params.heads * params.rows;
  // Enough blocks to cover every row once where the grid allows; the kernel
  // strides over the rest.
  const int64_t blocks = (total_rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
  const unsigned grid = static_cast<unsigned>(blocks > INT_MAX ? INT_MAX : blocks);
  if (params.dtype == AttentionDType::kFloat16) {
    attention_merge_kernel<__half><<<grid, kWarpsPerBlock * 32, 0, stream>>>(params, total_rows);
  } else {
    attention_merge_kernel<__nv_bfloat16><<<grid, kWarpsPerBlock * 32, 0, stream>>>(params, total_rows);
  }
  MLOPT_CUDA_CHECK_LAUNCH();
}

}  // namespace mlopt::kernels
