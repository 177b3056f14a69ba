#include "mlopt/core/transforms.h"

#include <torch/script.h>

#include <algorithm>
#include <map>

#include "mlopt/core/error.h"
#include "mlopt/core/torch_bridge.h"
#include "rewrite_support.h"

namespace mlopt {
namespace {

std::string shape_text(const at::Tensor& t) {
  std::ostringstream s;
  s << t.sizes() << " " << t.scalar_type();
  return s.str();
}

OutputComparison compare(const std::string& name, const at::Tensor& reference, const at::Tensor& candidate,
                         double tolerance) {
  OutputComparison c;
  c.name = name;
  c.tolerance = tolerance;
  if (!reference.sizes().equals(candidate.sizes()) || reference.scalar_type() != candidate.scalar_type()) {
    c.problem = "expected " + shape_text(reference) + ", got " + shape_text(candidate);
    c.error = std::numeric_limits<double>::infinity();
    return c;
  }
  if (!reference.is_floating_point()) {
    c.max_abs_error = reference.ne(candidate).any().item<bool>() ? 1 : 0;
    c.error = c.max_abs_error;
    if (c.error != 0) c.problem = "integer outputs differ";
    c.passed = c.error == 0;
    return c;
  }
  const auto ref = reference.to(at::kDouble);
  const auto got = candidate.to(at::kDouble);
  const auto finite = ref.isfinite();
  // Where the original is finite the transformed one must be too; where it
  // is not (an -inf logit), both must agree exactly.
  if (!got.isfinite().logical_or(finite.logical_not()).all().item<bool>()) {
    c.problem = "NaN or Inf where the original output is finite";
    c.error = std::numeric_limits<double>::infinity();
    return c;
  }
  if (!ref.masked_select(finite.logical_not()).equal(got.masked_select(finite.logical_not()))) {
    c.problem = "the non-finite entries of the original output differ";
    c.error = std::numeric_limits<double>::infinity();
    return c;
  }
  const auto diff = (ref - got).abs().masked_select(finite);
  c.max_abs_error = diff.numel() ? diff.max().item<double>() : 0.0;
  const auto magnitude = ref.abs().masked_select(finite);
  c.max_reference = magnitude.numel() ? magnitude.max().item<double>() : 0.0;
  c.error = c.max_abs_error / std::max(c.max_reference, 1e-6);
  c.passed = c.error <= tolerance;
  return c;
}

}  // namespace

Verification verify_outputs(const Model& original, const Model& transformed, const InputSpec& spec,
                            const std::vector<uint64_t>& seeds, double tolerance) {
  return verify_forward(original, spec, seeds, tolerance,
                        [&](std::vector<c10::IValue> inputs) { return forward(transformed, std::move(inputs)); });
}

Verification verify_forward(const Model& original, const InputSpec& spec, const std::vector<uint64_t>& seeds,
                            double tolerance, const CandidateForward& candidate) {
  Verification v;
  v.seeds = seeds;
  std::map<std::string, OutputComparison> worst;
  std::vector<std::string> order;
  for (const uint64_t seed : seeds) {
    const auto inputs = make_inputs(original, spec, seed);
    const auto expected = flatten_outputs(forward(original, inputs));
    std::vector<std::pair<std::string, at::Tensor>> got;
    try {
      got = flatten_outputs(candidate(inputs));
    } catch (const Error& e) {
      v.error = e.what();
      v.passed = false;
      return v;
    }
    if (got.size() != expected.size()) {
      v.error = "the transformed model returns " + std::to_string(got.size()) + " tensors, the original " +
                std::to_string(expected.size());
      v.passed = false;
      return v;
    }
    for (std::size_t i = 0; i < expected.size(); ++i) {
      auto c = compare(expected[i].first, expected[i].second, got[i].second, tolerance);
      auto it = worst.find(c.name);
      if (it == worst.end()) {
        order.push_back(c.name);
        worst.emplace(c.name, std::move(c));
      } else if (!(c.error <= it->second.error)) {
        it->second = std::move(c);
      }
    }
  }
  v.passed = true;
  for (const auto& name : order) {
    v.passed = v.passed && worst[name].passed;
    v.outputs.push_back(worst[name]);
  }
  return v;
}

}  // namespace mlopt
