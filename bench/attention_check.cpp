#include "attention_check.h"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace mlopt::bench {

Tolerance tolerance_for(at::ScalarType dtype) {
  if (dtype == at::kBFloat16) return {2e-2, 1.6e-2, 5e-2};
  if (dtype == at::kHalf) return {5e-3, 2e-3, 5e-2};
  throw std::invalid_argument("attention check: no tolerance for this dtype");
}

CheckResult compare_outputs(const at::Tensor& out, const at::Tensor& ref, const Tolerance& tol) {
  if (!out.sizes().equals(ref.sizes())) throw std::invalid_argument("attention check: output and reference shapes differ");
  // fp32 on the GPU: 64 Mi elements at most here, 256 MiB per temporary.
  const at::Tensor o = out.to(at::kFloat);
  const at::Tensor r = ref.to(at::kFloat);
  CheckResult c;
  c.all_finite = o.isfinite().all().item<bool>();
  c.ref_max_abs = r.abs().max().item<double>();
  if (!c.all_finite) {
    c.max_abs_diff = std::numeric_limits<double>::quiet_NaN();
    c.rel_rms = std::numeric_limits<double>::quiet_NaN();
    return c;  // passed stays false
  }
  const at::Tensor diff = (o - r).abs();
  c.max_abs_diff = diff.max().item<double>();
  const double ref_rms = r.square().mean().sqrt().item<double>();
  const double diff_rms = diff.square().mean().sqrt().item<double>();
  c.rel_rms = ref_rms > 0 ? diff_rms / ref_rms : diff_rms;
  const bool elementwise_ok = !(diff > r.abs() * tol.rtol + tol.atol).any().item<bool>();
  c.passed = elementwise_ok && c.rel_rms <= tol.rel_rms_max;
  return c;
}

}  // namespace mlopt::bench
