// attention_merge's validation and its CPU reference (attention_merge.h).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "mlopt/kernels/attention_merge.h"
#include "mlopt/kernels/half_bits.h"

namespace mlopt::kernels {
namespace {

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument("attention merge: " + what); }

float widen(uint16_t bits, AttentionDType dtype) {
  return dtype == AttentionDType::kFloat16 ? half_bits_to_float(bits) : bf16_bits_to_float(bits);
}

uint16_t narrow(float x, AttentionDType dtype) {
  return dtype == AttentionDType::kFloat16 ? float_to_half_bits(x) : float_to_bf16_bits(x);
}

}  // namespace

void validate(const AttentionMergeParams& p) {
  if (p.part_out == nullptr || p.part_lse == nullptr) fail("part_out and part_lse must not be null");
  if (p.acc_out == nullptr || p.acc_lse == nullptr) fail("acc_out and acc_lse must not be null");
  if (p.batch <= 0 || p.heads <= 0 || p.rows <= 0 || p.head_dim <= 0) {
    fail("batch, heads, rows and head_dim must be positive, got " + std::to_string(p.batch) + ", " +
         std::to_string(p.heads) + ", " + std::to_string(p.rows) + ", " + std::to_string(p.head_dim));
  }
  if (p.part_strides.dim != 1 || p.acc_strides.dim != 1 || (p.out != nullptr && p.out_strides.dim != 1)) {
    fail("the head_dim stride of part_out, acc_out and out must be 1");
  }
  if (p.dtype != AttentionDType::kFloat16 && p.dtype != AttentionDType::kBFloat16) fail("dtype must be fp16 or bf16");
}

void attention_merge_reference(const AttentionMergeParams& p) {
  validate(p);
  const float minus_inf = -std::numeric_limits<float>::infinity();
  const auto* part = static_cast<const uint16_t*>(p.part_out);
  auto* out = static_cast<uint16_t*>(p.out);
  for (int b = 0; b < p.batch; ++b)
    for (int h = 0; h < p.heads; ++h)
      for (int r = 0; r < p.rows; ++r) {
        const uint16_t* pr = part + b * p.part_strides.batch + h * p.part_strides.head + r * p.part_strides.row;
        float* ar = p.acc_out + b * p.acc_strides.batch + h * p.acc_strides.head + r * p.acc_strides.row;
        float& acc_lse = p.acc_lse[b * p.acc_lse_strides.batch + h * p.acc_lse_strides.head + r * p.acc_lse_strides.row];
        const float lb = p.part_lse[b * p.part_lse_strides.batch + h * p.part_lse_strides.head +
                                    r * p.part_lse_strides.row];
        const float la = p.first ? minus_inf : acc_lse;
        // As merge_partial: a part that saw no key weighs nothing (the
        // accumulator is kept; when `first`, it becomes what merge_partial
        // starts from: zeros, lse -inf); an empty accumulator takes the part
        // (its memory is not read: it may be unset when `first`); otherwise
        // both, weighted.
        const bool keep = !p.first && lb == minus_inf;
        const bool zero = p.first && lb == minus_inf;
        const bool take = !keep && !zero && la == minus_inf;
        const bool both = !keep && !zero && !take;
        const float m = std::max(la, lb);
        const float ea = both ? std::exp(la - m) : 0.0f;
        const float eb = both ? std::exp(lb - m) : 0.0f;
        const float inv = both ? 1.0f / (ea + eb) : 0.0f;
        const float lse = keep ? la : (zero ? minus_inf : (take ? lb : m + std::log(ea + eb)));
        for (int d = 0; d < p.head_dim; ++d) {
          const float pv = widen(pr[d], p.dtype);
          const float merged = keep ? ar[d] : (zero ? 0.0f : (take ? pv : (ea * ar[d] + eb * pv) * inv));
          ar[d] = merged;
          if (out != nullptr) {
            out[b * p.out_strides.batch + h * p.out_strides.head + r * p.out_strides.row + d] = narrow(merged, p.dtype);
          }
        }
        acc_lse = lse;
      }
}

}  // namespace mlopt::kernels
