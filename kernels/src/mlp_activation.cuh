#pragma once
// Device-side pieces every MLP epilogue shares: the activations in fp32,
// dtype conversions, and finishing one output element (bias, activation or
// gated product, residual) exactly as mlp_dispatch.h's Epilogue describes,
// so the fused GEMM epilogue and the split-K reduction round identically.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "mlp_dispatch.h"

namespace mlopt::kernels::mlp_detail {

template <typename Element>
struct Convert;
template <>
struct Convert<__half> {
  static __device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
  static __device__ __forceinline__ __half from_float(float x) { return __float2half_rn(x); }
  static __device__ __forceinline__ __half2 pair(float a, float b) { return __floats2half2_rn(a, b); }
  static __device__ __forceinline__ float2 to_float2(__half2 x) { return __half22float2(x); }
};
template <>
struct Convert<__nv_bfloat16> {
  static __device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
  static __device__ __forceinline__ __nv_bfloat16 from_float(float x) { return __float2bfloat16_rn(x); }
  static __device__ __forceinline__ __nv_bfloat162 pair(float a, float b) { return __floats2bfloat162_rn(a, b); }
  static __device__ __forceinline__ float2 to_float2(__nv_bfloat162 x) { return __bfloat1622float2(x); }
};

// Accurate library forms (erff, tanhf, expf): the epilogue is a small part
// of the work, and the CPU reference uses the exact functions.
__device__ __forceinline__ float activate(float x, Activation a) {
  switch (a) {
    case Activation::kNone: return x;
    case Activation::kRelu: return fmaxf(x, 0.0f);
    case Activation::kGeluErf: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case Activation::kGeluTanh:
      return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case Activation::kSilu: return x / (1.0f + expf(-x));  // x -> -inf: x / inf = -0
  }
  return x;
}

// Where gate / up feature f of a gated projection with n features each sits
// among its 2n packed features (columns of the weight's output dimension).
__device__ __forceinline__ int gate_column(GateUpPacking packing, int f) {
  return packing == GateUpPacking::kInterleaved ? 2 * f : f;
}
__device__ __forceinline__ int up_column(GateUpPacking packing, int n, int f) {
  return packing == GateUpPacking::kInterleaved ? 2 * f + 1 : n + f;
}

template <typename Element>
__device__ __forceinline__ float load_as_float(const void* base, int64_t i) {
  return Convert<Element>::to_float(static_cast<const Element*>(base)[i]);
}

// Non-gated element before the residual: act(acc + bias[f]).
template <typename Element>
__device__ __forceinline__ float finish_plain(const Epilogue& e, float acc, int f) {
  if (e.bias != nullptr) acc += load_as_float<Element>(e.bias, f);
  return activate(acc, e.activation);
}

// Gated element before the residual: act(gate + b_gate) * (up + b_up).
template <typename Element>
__device__ __forceinline__ float finish_gated(const Epilogue& e, int n, float gate, float up, int f) {
  if (e.bias != nullptr) {
    gate += load_as_float<Element>(e.bias, gate_column(e.packing, f));
    up += load_as_float<Element>(e.bias, up_column(e.packing, n, f));
  }
  return activate(gate, e.activation) * up;
}

template <typename Element>
__device__ __forceinline__ float add_residual(const Epilogue& e, float v, int64_t at) {
  return e.residual != nullptr ? v + load_as_float<Element>(e.residual, at) : v;
}

}  // namespace mlopt::kernels::mlp_detail
