// The MLP block's parameter checks, names and CPU reference (double sums).
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "mlopt/kernels/half_bits.h"
#include "mlopt/kernels/mlp.h"

namespace mlopt::kernels {
namespace {

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument("mlp: " + what); }

void check_pointer(const char* name, const void* pointer) {
  if (pointer == nullptr) fail(std::string(name) + " is null");
}

void check_sizes_and_enums(const MlpParams& p) {
  if (p.tokens <= 0) fail("tokens must be positive, got " + std::to_string(p.tokens));
  if (p.d_model <= 0) fail("d_model must be positive, got " + std::to_string(p.d_model));
  if (p.d_ff <= 0) fail("d_ff must be positive, got " + std::to_string(p.d_ff));
  if (p.d_model % 8 != 0) {
    fail("d_model " + std::to_string(p.d_model) + " is not a multiple of 8 (rows move in 16-byte pieces)");
  }
  if (p.d_ff % 8 != 0) fail("d_ff " + std::to_string(p.d_ff) + " is not a multiple of 8 (rows move in 16-byte pieces)");
  if (p.gated && p.d_ff > std::numeric_limits<int>::max() / 2) {
    fail("d_ff " + std::to_string(p.d_ff) + " is too large for a gated MLP (2 d_ff must fit in int)");
  }
  if (static_cast<unsigned>(p.activation) > static_cast<unsigned>(Activation::kSilu)) fail("unknown activation");
  if (static_cast<unsigned>(p.layout) > static_cast<unsigned>(WeightLayout::kInOut)) fail("unknown weight layout");
  if (static_cast<unsigned>(p.gate_up) > static_cast<unsigned>(GateUpPacking::kInterleaved)) {
    fail("unknown gate/up packing");
  }
  if (static_cast<unsigned>(p.dtype) > static_cast<unsigned>(MlpDType::kBFloat16)) fail("unknown dtype");
  if (static_cast<unsigned>(p.impl) > static_cast<unsigned>(MlpImpl::kSm90)) fail("unknown implementation");
  if (static_cast<unsigned>(p.overlap) > static_cast<unsigned>(RowBlockOverlap::kOn)) fail("unknown row-block overlap");
  if (p.num_splits < 0) fail("num_splits must be >= 0 (0 chooses), got " + std::to_string(p.num_splits));
  if (p.row_block < 0) fail("row_block must be >= 0 (0 chooses), got " + std::to_string(p.row_block));
}

double load(const uint16_t* data, int64_t i, MlpDType dtype) {
  return dtype == MlpDType::kFloat16 ? half_bits_to_float(data[i]) : bf16_bits_to_float(data[i]);
}
double round_to(double x, MlpDType dtype) {
  const auto f = static_cast<float>(x);
  return dtype == MlpDType::kFloat16 ? half_bits_to_float(float_to_half_bits(f))
                                     : bf16_bits_to_float(float_to_bf16_bits(f));
}


// A weight matrix as out x in doubles: row o holds output feature o.
std::vector<double> out_in_matrix(const void* w, int64_t out_features, int64_t in_features, WeightLayout layout,
                                  MlpDType dtype) {
  const auto* bits = static_cast<const uint16_t*>(w);
  std::vector<double> m(static_cast<std::size_t>(out_features * in_features));
  for (int64_t o = 0; o < out_features; ++o)
    for (int64_t i = 0; i < in_features; ++i) {
      const int64_t at = layout == WeightLayout::kOutIn ? o * in_features + i : i * out_features + o;
      m[static_cast<std::size_t>(o * in_features + i)] = load(bits, at, dtype);
    }
  return m;
}

double dot(const double* a, const double* b, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

double apply_activation(double x, Activation a) {
  switch (a) {
    case Activation::kNone: return x;
    case Activation::kRelu: return x > 0.0 ? x : 0.0;
    case Activation::kGeluErf: return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case Activation::kGeluTanh: {
      const double kSqrt2OverPi = 0.7978845608028654;
      return 0.5 * x * (1.0 + std::tanh(kSqrt2OverPi * (x + 0.044715 * x * x * x)));
    }
    case Activation::kSilu: return x / (1.0 + std::exp(-x));
  }
  return x;
}

const char* to_string(MlpDType dtype) {
  switch (dtype) {
    case MlpDType::kFloat16: return "fp16";
    case MlpDType::kBFloat16: return "bf16";
  }
  return "unknown";
}

const char* to_string(Activation activation) {
  switch (activation) {
    case Activation::kNone: return "none";
    case Activation::kRelu: return "relu";
    case Activation::kGeluErf: return "gelu";
    case Activation::kGeluTanh: return "gelu_tanh";
    case Activation::kSilu: return "silu";
  }
  return "unknown";
}

const char* to_string(WeightLayout layout) {
  switch (layout) {
    case WeightLayout::kOutIn: return "out_in";
    case WeightLayout::kInOut: return "in_out";
  }
  return "unknown";
}

const char* to_string(GateUpPacking packing) {
  switch (packing) {
    case GateUpPacking::kConcatenated: return "concatenated";
    case GateUpPacking::kInterleaved: return "interleaved";
  }
  return "unknown";
}

const char* to_string(MlpImpl impl) {
  switch (impl) {
    case MlpImpl::kAuto: return "auto";
    case MlpImpl::kDecode: return "decode";
    case MlpImpl::kFused: return "fused";
    case MlpImpl::kCublasLt: return "cublaslt";
    case MlpImpl::kSm90: return "sm90";
  }
  return "unknown";
}

const char* to_string(RowBlockOverlap overlap) {
  switch (overlap) {
    case RowBlockOverlap::kAuto: return "auto";
    case RowBlockOverlap::kOff: return "off";
    case RowBlockOverlap::kOn: return "on";
  }
  return "unknown";
}

void validate(const MlpParams& p) {
  check_pointer("x", p.x);
  check_pointer("w_up", p.w_up);
  check_pointer("w_down", p.w_down);
  check_pointer("out", p.out);
  check_sizes_and_enums(p);
}

void mlp_reference_f32(const MlpParams& p, float* out_f32) {
  check_pointer("x", p.x);
  check_pointer("w_up", p.w_up);
  check_pointer("w_down", p.w_down);
  check_pointer("out_f32", out_f32);
  check_sizes_and_enums(p);
  const int64_t d = p.d_model, f = p.d_ff, n_up = mlp_up_features(p);
  const auto w_up = out_in_matrix(p.w_up, n_up, d, p.layout, p.dtype);
  const auto w_down = out_in_matrix(p.w_down, d, f, p.layout, p.dtype);
  const auto* x = static_cast<const uint16_t*>(p.x);
  const auto* b_up = static_cast<const uint16_t*>(p.b_up);
  const auto* b_down = static_cast<const uint16_t*>(p.b_down);
  const auto* residual = static_cast<const uint16_t*>(p.residual);
  const bool interleaved = p.gate_up == GateUpPacking::kInterleaved;

  std::vector<double> x_row(static_cast<std::size_t>(d)), pre(static_cast<std::size_t>(n_up)),
      h(static_cast<std::size_t>(f));
  for (int64_t t = 0; t < p.tokens; ++t) {
    for (int64_t i = 0; i < d; ++i) x_row[i] = load(x, t * d + i, p.dtype);
    for (int64_t o = 0; o < n_up; ++o) {
      pre[o] = dot(x_row.data(), &w_up[static_cast<std::size_t>(o * d)], d) + (b_up ? load(b_up, o, p.dtype) : 0.0);
    }
    for (int64_t j = 0; j < f; ++j) {
      double value;
      if (p.gated) {
        const double gate = pre[interleaved ? 2 * j : j];
        const double up = pre[interleaved ? 2 * j + 1 : f + j];
        value = apply_activation(gate, p.activation) * up;
      } else {
        value = apply_activation(pre[j], p.activation);
      }
      h[j] = round_to(value, p.dtype);  // the GPU stores h in the input dtype
    }
    for (int64_t o = 0; o < d; ++o) {
      double y = dot(h.data(), &w_down[static_cast<std::size_t>(o * f)], f);
      if (b_down) y += load(b_down, o, p.dtype);
      if (residual) y += load(residual, t * d + o, p.dtype);
      out_f32[t * d + o] = static_cast<float>(y);
    }
  }
}

void mlp_reference(const MlpParams& p) {
  check_pointer("out", p.out);
  check_sizes_and_enums(p);  // before sizing the buffer from them
  std::vector<float> out(static_cast<std::size_t>(int64_t{p.tokens} * p.d_model));
  mlp_reference_f32(p, out.data());
  auto* bits = static_cast<uint16_t*>(p.out);
  for (std::size_t i = 0; i < out.size(); ++i) {
    bits[i] = p.dtype == MlpDType::kFloat16 ? float_to_half_bits(out[i]) : float_to_bf16_bits(out[i]);
  }
}

}  // namespace mlopt::kernels
