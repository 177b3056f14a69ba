// The MLP epilogues that run as kernels of their own: the split-K
// reduction (mlp_reduce.cuh) and, on the cuBLASLt path, the activations cuBLASLt
// has no epilogue for. Both work on pairs of neighbouring features (d_ff and
// d_model are multiples of 8), with 2-element loads and stores.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "mlopt/kernels/cuda_check.h"
#include "mlp_activation.cuh"
#include "mlp_dispatch.h"
#include "mlp_reduce.cuh"

namespace mlopt::kernels::mlp_detail {
namespace {

constexpr int kThreads = 256;

template <typename Element>
using PairOf = decltype(Convert<Element>::pair(0.0f, 0.0f));

template <typename Element>
__device__ __forceinline__ float2 load_pair(const void* base, int64_t at) {
  return Convert<Element>::to_float2(*reinterpret_cast<const PairOf<Element>*>(static_cast<const Element*>(base) + at));
}

template <typename Element>
__global__ void __launch_bounds__(kThreads) reduce_splits_kernel(const float* partials, int splits, int m, int n,
                                                                 const Epilogue e) {
  reduce_split_pairs<Element>(partials, splits, m, n, e, int64_t{blockIdx.x} * blockDim.x + threadIdx.x,
                              int64_t{gridDim.x} * blockDim.x);
}

// `projection` holds cuBLASLt's output, bias included and rounded to the
// dtype: [m, n] (plain) or [m, 2n] packed (gated).
template <typename Element>
__global__ void __launch_bounds__(kThreads) activation_kernel(const void* projection, int m, int n, const Epilogue e) {
  const int half_n = n / 2;
  const int64_t pairs = int64_t{m} * half_n;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < pairs; i += int64_t{gridDim.x} * blockDim.x) {
    const int r = static_cast<int>(i / half_n);
    const int f = static_cast<int>(i % half_n) * 2;
    float v0, v1;
    if (!e.gated) {
      const float2 x = load_pair<Element>(projection, int64_t{r} * n + f);
      v0 = activate(x.x, e.activation);
      v1 = activate(x.y, e.activation);
    } else {
      const int64_t row = int64_t{r} * 2 * n;
      float2 gate, up;
      if (e.packing == GateUpPacking::kInterleaved) {
        const float2 a = load_pair<Element>(projection, row + 2 * f);  // gate f, up f
        const float2 b = load_pair<Element>(projection, row + 2 * f + 2);  // gate f+1, up f+1
        gate = make_float2(a.x, b.x);
        up = make_float2(a.y, b.y);
      } else {
        gate = load_pair<Element>(projection, row + f);
        up = load_pair<Element>(projection, row + n + f);
      }
      v0 = activate(gate.x, e.activation) * up.x;
      v1 = activate(gate.y, e.activation) * up.y;
    }
    store_epilogue_pair<Element>(e, int64_t{r} * n + f, v0, v1);
  }
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

void apply_activation(const void* projection, int m, int n, const Epilogue& e, MlpDType dtype, cudaStream_t stream) {
  if (n % 2 != 0) throw std::invalid_argument("mlp: the activation kernel needs an even feature count");
  if (e.residual != nullptr) throw std::invalid_argument("mlp: the activation kernel adds no residual");
  Epilogue no_bias = e;
  no_bias.bias = nullptr;  // cuBLASLt added it
  const unsigned grid = grid_for(int64_t{m} * (n / 2));
  if (dtype == MlpDType::kFloat16) {
    activation_kernel<__half><<<grid, kThreads, 0, stream>>>(projection, m, n, no_bias);
  } else {
    activation_kernel<__nv_bfloat16><<<grid, kThreads, 0, stream>>>(projection, m, n, no_bias);
  }
  MLOPT_CUDA_CHECK_LAUNCH();
}

}  // namespace mlopt::kernels::mlp_detail
