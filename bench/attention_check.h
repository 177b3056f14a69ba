#pragma once
// Does one attention output agree with a reference output of the same inputs?
#include <ATen/ATen.h>

namespace mlopt::bench {

// An element fails when |out - ref| > atol + rtol * |ref|; rtol keeps a one-
// or two-ulp disagreement at large outputs (early causal rows average few
// values, so they can reach |v|) from failing. rel_rms_max catches a wrong
// result whose values are small everywhere (long rows average towards zero).
struct Tolerance {
  double atol = 0, rtol = 0, rel_rms_max = 0;
};

// bf16: atol 2e-2 (the bound), rtol 1.6e-2 (two bf16 ulps, as
// torch.testing uses); fp16: atol 5e-3, rtol 2e-3. rel_rms_max 5e-2 for both:
// an implementation that rounds P to the input dtype differs by ~5e-3.
Tolerance tolerance_for(at::ScalarType dtype);

struct CheckResult {
  double max_abs_diff = 0;  // NaN when `out` is not finite
  double rel_rms = 0;       // rms(out - ref) / rms(ref)
  double ref_max_abs = 0;
  bool all_finite = false;
  bool passed = false;
};

CheckResult compare_outputs(const at::Tensor& out, const at::Tensor& ref, const Tolerance& tol);

}  // namespace mlopt::bench
