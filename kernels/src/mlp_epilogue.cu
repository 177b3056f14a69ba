// The MLP epilogues that run as kernels of their own: the split-K
// reduction (mlp_reduce.cuh), on pairs of neighbouring features, and, on the
// cuBLASLt path, the activations cuBLASLt has no epilogue for, on blocks of
// 8 features (d_ff and d_model are multiples of 8).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "mlopt/kernels/cuda_check.h"
#include "mlp_activation.cuh"
#include "mlp_dispatch.h"
#include "mlp_reduce.cuh"
#include "mma_sm80.cuh"

namespace mlopt::kernels::mlp_detail {
namespace {

constexpr int kThreads = 256;

template <typename Element>
using PairOf = decltype(Convert<Element>::pair(0.0f, 0.0f));

template <typename Element>
__global__ void __launch_bounds__(kThreads) reduce_splits_kernel(const float* partials, int splits, int m, int n,
                                                                 const Epilogue e) {
  reduce_split_pairs<Element>(partials, splits, m, n, e, int64_t{blockIdx.x} * blockDim.x + threadIdx.x,
                              int64_t{gridDim.x} * blockDim.x);
}

// `projection` holds cuBLASLt's output, bias included and rounded to the
// dtype: [m, n] (plain) or [m, 2n] packed (gated). Each thread finishes 8
// consecutive outputs of one row per step: 16-byte loads (gated: two, the
// gate and up pieces) and one 16-byte store, so the pass over the stored
// projection (at 16k tokens of Llama-7B, 1 GB each way) runs at memory
// speed. Rows on the grid's y, 8-feature blocks on x: no 64-bit division.
template <typename Element>
__device__ __forceinline__ void unpack8(const uint4& v, float (&out)[8]) {
  const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    PairOf<Element> pair;
    memcpy(&pair, &words[i], sizeof pair);
    const float2 f = Convert<Element>::to_float2(pair);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}

// h's features f .. f+7 of one row of the projection (`row`: n values, or
// gated 2n packed as e.packing), into v.
template <typename Element>
__device__ __forceinline__ void finish8(const Element* row, int n, int f, const Epilogue& e, float (&v)[8]) {
  if (!e.gated) {
    unpack8<Element>(__ldcs(reinterpret_cast<const uint4*>(row + f)), v);
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = activate(v[i], e.activation);
    return;
  }
  float gate[8], up[8];
  if (e.packing == GateUpPacking::kInterleaved) {
    float lo[8], hi[8];  // gate f, up f, gate f+1, ... over 16 packed features
    unpack8<Element>(__ldcs(reinterpret_cast<const uint4*>(row + 2 * f)), lo);
    unpack8<Element>(__ldcs(reinterpret_cast<const uint4*>(row + 2 * f + 8)), hi);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      gate[i] = lo[2 * i];
      up[i] = lo[2 * i + 1];
      gate[4 + i] = hi[2 * i];
      up[4 + i] = hi[2 * i + 1];
    }
  } else {
    unpack8<Element>(__ldcs(reinterpret_cast<const uint4*>(row + f)), gate);
    unpack8<Element>(__ldcs(reinterpret_cast<const uint4*>(row + n + f)), up);
  }
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = activate(gate[i], e.activation) * up[i];
}

template <typename Element>
__device__ __forceinline__ void store8(Element* to, const float (&v)[8]) {
  *reinterpret_cast<uint4*>(to) = make_uint4(sm80::pack2<Element>(v[0], v[1]), sm80::pack2<Element>(v[2], v[3]),
                                             sm80::pack2<Element>(v[4], v[5]), sm80::pack2<Element>(v[6], v[7]));
}

template <typename Element>
__global__ void __launch_bounds__(kThreads) activation_kernel(const void* projection, int m, int n, const Epilogue e) {
  const int blocks = n / 8;
  const auto* in = static_cast<const Element*>(projection);
  auto* out = static_cast<Element*>(e.out);
  const int64_t in_row = e.gated ? 2 * int64_t{n} : int64_t{n};
  for (int r = static_cast<int>(blockIdx.y); r < m; r += static_cast<int>(gridDim.y)) {
    for (int b = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); b < blocks;
         b += static_cast<int>(gridDim.x * blockDim.x)) {
      const int f = 8 * b;
      float v[8];
      finish8<Element>(in + r * in_row, n, f, e, v);
      store8<Element>(out + int64_t{r} * n + f, v);
    }
  }
}

// The gated projection [m, 2n] turned into h in place: row r's first n
// values become h's row r (h's row stride stays 2n). One block per row walks
// it in segments of 8 features per thread: each segment's packed inputs
// are all read before the barrier, its outputs written after it. Outputs
// of segment s land on positions [sB, (s+1)B) (B = segment width), which
// hold only inputs of segments <= s (gate f sits at f or 2f), all read by
// then; later segments' inputs (from 2(s+1)B on, or in the up half) are
// untouched. Rows are disjoint, so blocks need no ordering between them.
// (Measured on an H100, Llama-7B: 4.1 us at 1 token, 97 us at 4096; four
// steps per thread per segment, one segment for d_ff 11008, were no faster
// at 1 token and took 110-116 us at 4096.)
constexpr int kInPlaceThreads = 512;

template <typename Element>
__global__ void __launch_bounds__(kInPlaceThreads) activation_in_place_kernel(void* projection, int n, const Epilogue e) {
  auto* row = static_cast<Element*>(projection) + int64_t{blockIdx.x} * 2 * n;
  for (int first = 0; first < n; first += 8 * kInPlaceThreads) {  // the same trip count for every thread
    const int f = first + 8 * static_cast<int>(threadIdx.x);
    float v[8];
    if (f < n) finish8<Element>(row, n, f, e, v);
    __syncthreads();
    if (f < n) store8<Element>(row + f, v);
  }
}

// What both activation passes need: whole 8-feature blocks, no residual.
void check_activation_args(int n, const Epilogue& e) {
  if (n % 8 != 0) throw std::invalid_argument("mlp: the activation kernel needs a feature count that is a multiple of 8");
  if (e.residual != nullptr) throw std::invalid_argument("mlp: the activation kernel adds no residual");
}

unsigned grid_for(int64_t pairs) {
  // Grid-stride loops: enough blocks to fill any GPU several times over.
  return static_cast<unsigned>(std::clamp<int64_t>((pairs + kThreads - 1) / kThreads, 1, 65536));
}

}  // namespace

void reduce_splits(const float* partials, int splits, int m, int n, const Epilogue& e, MlpDType dtype,
                   cudaStream_t stream) {
  if (n % 2 != 0) throw std::invalid_argument("mlp: the split-K reduction needs an even feature count");
  const unsigned grid = grid_for(int64_t{m} * (n / 2));
  if (dtype == MlpDType::kFloat16) {
    reduce_splits_kernel<__half><<<grid, kThreads, 0, stream>>>(partials, splits, m, n, e);
  } else {
    reduce_splits_kernel<__nv_bfloat16><<<grid, kThreads, 0, stream>>>(partials, splits, m, n, e);
  }
  MLOPT_CUDA_CHECK_LAUNCH();
}

void apply_activation_in_place(void* projection, int m, int n, const Epilogue& e, MlpDType dtype, cudaStream_t stream) {
  check_activation_args(n, e);
  if (!e.gated) throw std::invalid_argument("mlp: the in-place activation is for a gated projection");
  if (m <= 0) return;
  const dim3 grid(static_cast<unsigned>(m));  // one block per row: up to 2^31 - 1
  if (dtype == MlpDType::kFloat16) {
    activation_in_place_kernel<__half><<<grid, kInPlaceThreads, 0, stream>>>(projection, n, e);
  } else {
    activation_in_place_kernel<__nv_bfloat16><<<grid, kInPlaceThreads, 0, stream>>>(projection, n, e);
  }
  MLOPT_CUDA_CHECK_LAUNCH();
}

void apply_activation(const void* projection, int m, int n, const Epilogue& e, MlpDType dtype, cudaStream_t stream) {
  check_activation_args(n, e);
  // x: the row's 8-feature blocks (one thread each); y: rows, the grid
  // striding over them past 65535.
  const unsigned x = static_cast<unsigned>((n / 8 + kThreads - 1) / kThreads);
  const dim3 grid(x, static_cast<unsigned>(std::clamp<int64_t>(m, 1, std::max<int64_t>(1, 65535 / x))));
  if (dtype == MlpDType::kFloat16) {
    activation_kernel<__half><<<grid, kThreads, 0, stream>>>(projection, m, n, e);
  } else {
    activation_kernel<__nv_bfloat16><<<grid, kThreads, 0, stream>>>(projection, m, n, e);
  }
  MLOPT_CUDA_CHECK_LAUNCH();
}

}  // namespace mlopt::kernels::mlp_detail
