#pragma once
// Helpers the attention GPU tests share: fp16/bf16 bits, tensor extents,
// a device buffer, and the naive low-precision attention whose error sets
// the tolerance.
//
// Tolerance. The CPU reference accumulates in double from the same fp16/bf16
// inputs. A flash kernel's error comes from rounding P to the input dtype
// before the P V product and rounding the output; naive attention computed
// in the same low precision (S = Q K^T rounded to the dtype, scaled and
// rounded, softmax in fp32 rounded to the dtype, P V accumulated in fp32 and
// rounded: what `softmax(q @ k.T * scale) @ v` does in PyTorch) has those
// errors and more. So a case computes that naive error too, and requires
//   max |ours - ref| <= max |naive - ref| + one ulp of the dtype at max |ref|
// (the margin covers different elements landing on the other side of a
// rounding boundary).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "mlopt/kernels/attention.h"
#include "mlopt/kernels/cuda_check.h"
#include "mlopt/kernels/device_query.h"
#include "mlopt/kernels/half_bits.h"

// A macro, not a function: GTEST_SKIP returns from the test body itself.
#define SKIP_WITHOUT_GPU() \
  if (::mlopt::kernels::device_count() == 0) GTEST_SKIP() << "no CUDA device"

namespace mlopt::kernels::attention_test {

inline float to_float(uint16_t bits, AttentionDType dtype) {
  return dtype == AttentionDType::kFloat16 ? half_bits_to_float(bits) : bf16_bits_to_float(bits);
}
inline uint16_t to_bits(float x, AttentionDType dtype) {
  return dtype == AttentionDType::kFloat16 ? float_to_half_bits(x) : float_to_bf16_bits(x);
}
inline float round_to(float x, AttentionDType dtype) { return to_float(to_bits(x, dtype), dtype); }

// Elements a [batch, heads, rows, dim] tensor with these strides spans.
inline int64_t extent(const TensorStrides& s, int batch, int heads, int rows, int dim) {
  return (batch - 1) * s.batch + (heads - 1) * s.head + (rows - 1) * s.row + dim;
}

struct DeviceBuffer {
  void* ptr = nullptr;
  std::size_t bytes = 0;
  explicit DeviceBuffer(std::size_t n) : bytes(n) {
    if (n > 0) MLOPT_CUDA_CHECK(cudaMalloc(&ptr, n));
  }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

// Naive attention in the input dtype (see the tolerance note above); out
// written with the out strides of `p`, as floats. Host pointers.
inline void naive_low_precision(const AttentionParams& p, std::vector<float>& out) {
  const auto* q = static_cast<const uint16_t*>(p.q);
  const auto* k = static_cast<const uint16_t*>(p.k);
  const auto* v = static_cast<const uint16_t*>(p.v);
  const int group = p.q_heads / p.kv_heads;
  const float scale = round_to(p.softmax_scale, p.dtype);
  std::vector<float> s(p.kv_len), qrow(p.head_dim), acc(p.head_dim);
  for (int b = 0; b < p.batch; ++b)
    for (int h = 0; h < p.q_heads; ++h) {
      const int kvh = h / group;
      for (int i = 0; i < p.q_len; ++i) {
        const int64_t qb = b * p.q_strides.batch + h * p.q_strides.head + i * p.q_strides.row;
        for (int d = 0; d < p.head_dim; ++d) qrow[d] = to_float(q[qb + d], p.dtype);
        float mx = -std::numeric_limits<float>::infinity();
        for (int j = 0; j < p.kv_len; ++j) {
          if (p.causal && j > i + (p.kv_len - p.q_len)) {
            s[j] = -std::numeric_limits<float>::infinity();
            continue;
          }
          const int64_t kb = b * p.k_strides.batch + kvh * p.k_strides.head + j * p.k_strides.row;
          float dot = 0;
          for (int d = 0; d < p.head_dim; ++d) dot += qrow[d] * to_float(k[kb + d], p.dtype);
          s[j] = round_to(round_to(dot, p.dtype) * scale, p.dtype);
          mx = std::max(mx, s[j]);
        }
        std::fill(acc.begin(), acc.end(), 0.0f);
        if (mx != -std::numeric_limits<float>::infinity()) {
          float sum = 0;
          for (int j = 0; j < p.kv_len; ++j) sum += std::exp(s[j] - mx);
          for (int j = 0; j < p.kv_len; ++j) {
            const float pj = round_to(std::exp(s[j] - mx) / sum, p.dtype);
            if (pj == 0.0f) continue;
            const int64_t vb = b * p.v_strides.batch + kvh * p.v_strides.head + j * p.v_strides.row;
            for (int d = 0; d < p.head_dim; ++d) acc[d] += pj * to_float(v[vb + d], p.dtype);
          }
        }
        const int64_t ob = b * p.out_strides.batch + h * p.out_strides.head + i * p.out_strides.row;
        for (int d = 0; d < p.head_dim; ++d) out[ob + d] = round_to(acc[d], p.dtype);
      }
    }
}

// One unit in the last place of the dtype at `magnitude` (>= 1e-3).
inline float ulp_at(float magnitude, AttentionDType dtype) {
  const int mantissa_bits = dtype == AttentionDType::kFloat16 ? 10 : 7;
  int exponent = 0;
  std::frexp(std::max(magnitude, 1e-3f), &exponent);  // magnitude in [2^(e-1), 2^e)
  return std::ldexp(1.0f, exponent - 1 - mantissa_bits);
}

}  // namespace mlopt::kernels::attention_test
