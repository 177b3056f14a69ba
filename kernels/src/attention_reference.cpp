// Parameter validation and the CPU reference for the attention forward.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "mlopt/kernels/attention.h"
#include "mlopt/kernels/half_bits.h"

namespace mlopt::kernels {
namespace {

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument("attention: " + what); }

void check_positive(const char* name, int value) {
  if (value <= 0) fail(std::string(name) + " must be positive, got " + std::to_string(value));
}

void check_dtype(AttentionDType dtype) {
  if (dtype != AttentionDType::kFloat16 && dtype != AttentionDType::kBFloat16) {
    fail("dtype " + std::to_string(static_cast<int>(dtype)) + " is not supported (use fp16 or bf16)");
  }
}

// Everything but the pointers the caller does not need and the head_dim
// restriction of the GPU kernel (the reference takes any head_dim).
void check_common(const AttentionParams& p) {
  check_dtype(p.dtype);
  check_positive("batch", p.batch);
  check_positive("q_heads", p.q_heads);
  check_positive("kv_heads", p.kv_heads);
  check_positive("q_len", p.q_len);
  check_positive("kv_len", p.kv_len);
  check_positive("head_dim", p.head_dim);
  if (p.q_heads % p.kv_heads != 0) {
    fail("kv_heads (" + std::to_string(p.kv_heads) + ") must divide q_heads (" + std::to_string(p.q_heads) +
         ") for grouped-query attention");
  }
  const std::pair<const char*, const TensorStrides*> strides[] = {
      {"q", &p.q_strides}, {"k", &p.k_strides}, {"v", &p.v_strides}, {"out", &p.out_strides}};
  for (const auto& [name, s] : strides) {
    if (s->dim != 1) {
      fail(std::string(name) + "_strides.dim (the head_dim stride) must be 1, got " + std::to_string(s->dim) +
           ": make the head dimension contiguous");
    }
  }
  if (!std::isfinite(p.softmax_scale)) fail("softmax_scale must be finite");
}

void check_pointer(const char* name, const void* pointer) {
  if (pointer == nullptr) fail(std::string(name) + " is a null pointer");
}

float load(const uint16_t* data, int64_t index, AttentionDType dtype) {
  return dtype == AttentionDType::kFloat16 ? half_bits_to_float(data[index]) : bf16_bits_to_float(data[index]);
}

}  // namespace

const char* to_string(AttentionDType dtype) {
  switch (dtype) {
    case AttentionDType::kFloat16: return "fp16";
    case AttentionDType::kBFloat16: return "bf16";
  }
  return "unknown";
}

const char* to_string(AttentionImpl impl) {
  switch (impl) {
    case AttentionImpl::kAuto: return "auto";
    case AttentionImpl::kPrefillWmma: return "prefill-wmma";
    case AttentionImpl::kPrefillMma: return "prefill-mma";
    case AttentionImpl::kDecodeSplitKv: return "decode-split-kv";
    case AttentionImpl::kPrefillSm90: return "prefill-sm90";
  }
  return "unknown";
}

void validate(const AttentionParams& p) {
  check_pointer("q", p.q);
  check_pointer("k", p.k);
  check_pointer("v", p.v);
  check_pointer("out", p.out);
  check_common(p);
  if (!attention_head_dim_supported(p.head_dim)) {
    fail("head_dim " + std::to_string(p.head_dim) + " is not supported (supported: 64, 128)");
  }
  if (p.num_splits < 0) fail("num_splits must be >= 0 (0 chooses), got " + std::to_string(p.num_splits));
}

void attention_reference_f32(const AttentionParams& p, float* out_f32, float* lse_f32) {
  check_pointer("q", p.q);
  check_pointer("k", p.k);
  check_pointer("v", p.v);
  check_pointer("out_f32", out_f32);
  check_common(p);
  const auto* q = static_cast<const uint16_t*>(p.q);
  const auto* k = static_cast<const uint16_t*>(p.k);
  const auto* v = static_cast<const uint16_t*>(p.v);
  const int group = p.q_heads / p.kv_heads;
  const int64_t causal_offset = int64_t{p.kv_len} - p.q_len;  // bottom-right alignment
  const int d_count = p.head_dim;
  std::vector<double> scores(static_cast<std::size_t>(p.kv_len));
  std::vector<double> q_row(static_cast<std::size_t>(d_count)), acc(static_cast<std::size_t>(d_count));
  for (int b = 0; b < p.batch; ++b) {
    for (int h = 0; h < p.q_heads; ++h) {
      const int kvh = h / group;
      const int64_t k_base = b * p.k_strides.batch + kvh * p.k_strides.head;
      const int64_t v_base = b * p.v_strides.batch + kvh * p.v_strides.head;
      for (int i = 0; i < p.q_len; ++i) {
        const int64_t q_base = b * p.q_strides.batch + h * p.q_strides.head + i * p.q_strides.row;
        for (int d = 0; d < d_count; ++d) q_row[d] = load(q, q_base + d, p.dtype);
        // Keys 0 .. visible-1 are seen by this query.
        int64_t visible = p.kv_len;
        if (p.causal) visible = std::min<int64_t>(p.kv_len, std::max<int64_t>(0, i + causal_offset + 1));
        double max_score = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < visible; ++j) {
          double dot = 0.0;
          const int64_t row = k_base + j * p.k_strides.row;
          for (int d = 0; d < d_count; ++d) dot += q_row[d] * load(k, row + d, p.dtype);
          scores[j] = dot * static_cast<double>(p.softmax_scale);
          max_score = std::max(max_score, scores[j]);
        }
        double sum = 0.0;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t j = 0; j < visible; ++j) {
          const double w = std::exp(scores[j] - max_score);
          sum += w;
          const int64_t row = v_base + j * p.v_strides.row;
          for (int d = 0; d < d_count; ++d) acc[d] += w * load(v, row + d, p.dtype);
        }
        const int64_t o_base = b * p.out_strides.batch + h * p.out_strides.head + i * p.out_strides.row;
        for (int d = 0; d < d_count; ++d) out_f32[o_base + d] = visible > 0 ? static_cast<float>(acc[d] / sum) : 0.0f;
        if (lse_f32 != nullptr) {
          lse_f32[(int64_t{b} * p.q_heads + h) * p.q_len + i] =
              visible > 0 ? static_cast<float>(max_score + std::log(sum)) : -std::numeric_limits<float>::infinity();
        }
      }
    }
  }
}

void attention_reference(const AttentionParams& p) {
  check_pointer("out", p.out);
  check_common(p);
  // The f32 output uses out's strides: size it to cover the largest index.
  const TensorStrides& s = p.out_strides;
  const int64_t extent = (p.batch - 1) * s.batch + (p.q_heads - 1) * s.head + (p.q_len - 1) * s.row + p.head_dim;
  std::vector<float> out_f32(static_cast<std::size_t>(extent));
  attention_reference_f32(p, out_f32.data(), p.lse);
  auto* out = static_cast<uint16_t*>(p.out);
  for (int b = 0; b < p.batch; ++b) {
    for (int h = 0; h < p.q_heads; ++h) {
      for (int i = 0; i < p.q_len; ++i) {
        const int64_t base = b * s.batch + h * s.head + i * s.row;
        for (int d = 0; d < p.head_dim; ++d) {
          const float x = out_f32[base + d];
          out[base + d] = p.dtype == AttentionDType::kFloat16 ? float_to_half_bits(x) : float_to_bf16_bits(x);
        }
      }
    }
  }
}

}  // namespace mlopt::kernels
