#pragma once
// FLOP and byte counts of ATen ops from their input shapes, and the roofline
// classification of a measured op or kernel against a device's ceilings.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mlopt/core/dtype.h"

namespace mlopt::profiler {

struct TensorArg {
  std::vector<int64_t> shape;
  DType dtype = DType::F32;
  bool is_tensor = true;  // false: a scalar or other non-tensor argument
  double scalar = 0;      // its value when it is a number (e.g. softmax's dim)
};

struct OpCost {
  double flops = 0;  // multiply-add counted as 2
  double bytes = 0;  // fewest bytes moved: every input read once, every output written once
  bool known = false;  // false: an op the model does not count (views, list ops, ...)
};

// Counts for matmul, mm, bmm, addmm, linear, baddbmm, einsum-free attention
// (scaled_dot_product_attention and mlopt::flash_attention), mlopt::fused_mlp, softmax,
// log_softmax, layer_norm, rms-style chains (pow, mean, rsqrt), embedding,
// elementwise unary/binary ops (add, sub, mul, div, tanh, gelu, silu, relu,
// pow, exp, where, masked_fill, ...), copies (to, contiguous, clone, cat).
// View-like ops (view, reshape, permute, transpose, slice, size, ...) cost 0
// and are `known` (they launch no kernel).
OpCost op_cost(const std::string& op_name, const std::vector<TensorArg>& inputs);

// What a device can do, measured by the profiler itself (ceilings.h).
struct DeviceCeilings {
  std::string device_name;
  DType dtype = DType::F32;     // the dtype the GEMM ceiling was measured in
  double matmul_tflops = 0;     // a large GEMM in that dtype
  double copy_gbps = 0;         // device-to-device copy, bytes read + written per second
  double launch_overhead_us = 0;  // an empty op's time: below a few of these, time is latency
  std::string measured_at;      // ISO 8601 UTC
  std::string torch_version;
};

enum class Bound { Compute, Memory, Latency, Unknown };
std::string to_string(Bound bound);

struct Roofline {
  Bound bound = Bound::Unknown;
  double achieved_tflops = 0;
  double achieved_gbps = 0;
  // Achieved rate over the ceiling that binds it (FLOP/s over the GEMM
  // ceiling when compute-bound, bytes/s over the copy ceiling when
  // memory-bound); for latency-bound ops, the share of the better of the two.
  double share_of_ceiling = 0;
  // The time the op would take at its ceiling: max(flops/peak, bytes/bandwidth).
  double ideal_seconds = 0;
};

// Compute- vs memory-bound by arithmetic intensity against the ridge point;
// latency/launch-bound when the op is short (a few launch overheads) and far
// from either ceiling (under 10% of the one that should bind it).
Roofline classify(const OpCost& cost, double seconds, const DeviceCeilings& ceilings);

}  // namespace mlopt::profiler
