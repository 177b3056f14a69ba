#pragma once
// The split-K reduction of mlopt's MLP GEMM as a device function: sums the
// fp32 partial slices ([splits][m][gated ? 2n : n], gate sums in columns
// [0, n), up sums in [n, 2n)), then bias, activation or gated product and
// residual, rounded once into e.out [m, n]. Works on pairs of neighbouring
// features (n is even). Threads [thread, thread + stride, ...) of the
// caller's grid cover the pairs (the reduction kernel, mlp_epilogue.cu).
//
// The partial sums are read with __ldcg (through L2, not L1): they are read
// once, and were written by other blocks.
#include <cuda_runtime.h>

#include <cstdint>

#include "mlp_activation.cuh"

namespace mlopt::kernels::mlp_detail {

// Residual added, rounded once, stored: elements at and at + 1 of e.out.
template <typename Element>
__device__ __forceinline__ void store_epilogue_pair(const Epilogue& e, int64_t at, float v0, float v1) {
  using Pair = decltype(Convert<Element>::pair(0.0f, 0.0f));
  v0 = add_residual<Element>(e, v0, at);
  v1 = add_residual<Element>(e, v1, at + 1);
  *reinterpret_cast<Pair*>(static_cast<Element*>(e.out) + at) = Convert<Element>::pair(v0, v1);
}

template <typename Element>
__device__ __forceinline__ void reduce_split_pairs(const float* partials, int splits, int m, int n, const Epilogue& e,
                                                   int64_t thread, int64_t stride) {
  const int half_n = n / 2;
  const int64_t n_acc = e.gated ? 2 * int64_t{n} : int64_t{n};
  const int64_t slice = int64_t{m} * n_acc;
  const int64_t pairs = int64_t{m} * half_n;
  for (int64_t i = thread; i < pairs; i += stride) {
    const int r = static_cast<int>(i / half_n);
    const int f = static_cast<int>(i % half_n) * 2;
    const float* p = partials + int64_t{r} * n_acc + f;
    float2 sum = make_float2(0.0f, 0.0f), up = make_float2(0.0f, 0.0f);
    for (int s = 0; s < splits; ++s) {
      const float2 v = __ldcg(reinterpret_cast<const float2*>(p + s * slice));
      sum.x += v.x;
      sum.y += v.y;
      if (e.gated) {
        const float2 u = __ldcg(reinterpret_cast<const float2*>(p + s * slice + n));
        up.x += u.x;
        up.y += u.y;
      }
    }
    float v0, v1;
    if (e.gated) {
      v0 = finish_gated<Element>(e, n, sum.x, up.x, f);
      v1 = finish_gated<Element>(e, n, sum.y, up.y, f + 1);
    } else {
      v0 = finish_plain<Element>(e, sum.x, f);
      v1 = finish_plain<Element>(e, sum.y, f + 1);
    }
    store_epilogue_pair<Element>(e, int64_t{r} * n + f, v0, v1);
  }
}

}  // namespace mlopt::kernels::mlp_detail
