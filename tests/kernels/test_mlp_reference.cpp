// The MLP CPU reference against a naive computation on logical matrices
// written here, against known activation values, layout and packing
// equivalences, and validate(). Runs without a GPU (CI).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "mlopt/kernels/half_bits.h"
#include "mlopt/kernels/mlp.h"

using namespace mlopt::kernels;

namespace {

float to_float(uint16_t bits, MlpDType dtype) {
  return dtype == MlpDType::kFloat16 ? half_bits_to_float(bits) : bf16_bits_to_float(bits);
}
uint16_t to_bits(float x, MlpDType dtype) {
  return dtype == MlpDType::kFloat16 ? float_to_half_bits(x) : float_to_bf16_bits(x);
}

double act(double x, Activation a) {
  const double pi = 3.14159265358979323846;
  switch (a) {
    case Activation::kNone: return x;
    case Activation::kRelu: return std::max(x, 0.0);
    case Activation::kGeluErf: return x * 0.5 * std::erfc(-x / std::sqrt(2.0));
    case Activation::kGeluTanh: return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / pi) * (x + 0.044715 * std::pow(x, 3))));
    case Activation::kSilu: return x * (1.0 / (1.0 + std::exp(-x)));
  }
  return x;
}

// Logical problem in doubles (already rounded to the dtype): gate/up and
// down weights as [out][in].
struct Problem {
  int tokens, d, f;
  bool gated;
  std::vector<double> x, w_gate, w_up, b_gate, b_up, w_down, b_down, residual;
};

Problem make_problem(int tokens, int d, int f, bool gated, MlpDType dtype, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto fill = [&](std::size_t n, double scale) {
    std::vector<double> v(n);
    for (auto& e : v) e = to_float(to_bits(normal(rng) * float(scale), dtype), dtype);
    return v;
  };
  Problem p{tokens, d, f, gated, {}, {}, {}, {}, {}, {}, {}, {}};
  p.x = fill(std::size_t(tokens) * d, 1.0);
  p.w_up = fill(std::size_t(f) * d, 1.0 / std::sqrt(d));
  p.b_up = fill(f, 0.5);
  if (gated) {
    p.w_gate = fill(std::size_t(f) * d, 1.0 / std::sqrt(d));
    p.b_gate = fill(f, 0.5);
  }
  p.w_down = fill(std::size_t(d) * f, 1.0 / std::sqrt(f));
  p.b_down = fill(d, 0.5);
  p.residual = fill(std::size_t(tokens) * d, 1.0);
  return p;
}

// Raw buffers in the layout/packing the kernel API takes.
struct Buffers {
  std::vector<uint16_t> x, w_up, b_up, w_down, b_down, residual;
};

// Packed up-projection feature index of gate/up feature j.
int64_t packed(int j, bool is_up, const Problem& p, GateUpPacking packing) {
  if (!p.gated) return j;
  if (packing == GateUpPacking::kInterleaved) return 2 * j + (is_up ? 1 : 0);
  return is_up ? p.f + j : j;
}

Buffers pack(const Problem& p, WeightLayout layout, GateUpPacking packing, MlpDType dtype) {
  Buffers b;
  auto bits = [&](double v) { return to_bits(float(v), dtype); };
  const int64_t n_up = p.gated ? 2 * p.f : p.f;
  for (double v : p.x) b.x.push_back(bits(v));
  b.w_up.resize(std::size_t(n_up) * p.d);
  b.b_up.resize(std::size_t(n_up));
  auto put_up = [&](int j, bool is_up, const std::vector<double>& w, const std::vector<double>& bias) {
    const int64_t o = packed(j, is_up, p, packing);
    for (int i = 0; i < p.d; ++i) {
      b.w_up[layout == WeightLayout::kOutIn ? o * p.d + i : int64_t{i} * n_up + o] = bits(w[std::size_t(j) * p.d + i]);
    }
    b.b_up[o] = bits(bias[j]);
  };
  for (int j = 0; j < p.f; ++j) {
    put_up(j, true, p.w_up, p.b_up);
    if (p.gated) put_up(j, false, p.w_gate, p.b_gate);
  }
  b.w_down.resize(std::size_t(p.d) * p.f);
  for (int o = 0; o < p.d; ++o)
    for (int j = 0; j < p.f; ++j) {
      b.w_down[layout == WeightLayout::kOutIn ? int64_t{o} * p.f + j : int64_t{j} * p.d + o] =
          bits(p.w_down[std::size_t(o) * p.f + j]);
    }
  for (double v : p.b_down) b.b_down.push_back(bits(v));
  for (double v : p.residual) b.residual.push_back(bits(v));
  return b;
}

MlpParams params_for(const Problem& p, const Buffers& b, Activation a, WeightLayout layout, GateUpPacking packing,
                     MlpDType dtype, bool biases, bool residual) {
  MlpParams m;
  m.x = b.x.data();
  m.w_up = b.w_up.data();
  m.b_up = biases ? b.b_up.data() : nullptr;
  m.w_down = b.w_down.data();
  m.b_down = biases ? b.b_down.data() : nullptr;
  m.residual = residual ? b.residual.data() : nullptr;
  m.tokens = p.tokens;
  m.d_model = p.d;
  m.d_ff = p.f;
  m.activation = a;
  m.gated = p.gated;
  m.gate_up = packing;
  m.layout = layout;
  m.dtype = dtype;
  return m;
}

// The MLP on the logical matrices, h rounded to the dtype.
std::vector<double> naive(const Problem& p, Activation a, MlpDType dtype, bool biases, bool residual) {
  std::vector<double> out(std::size_t(p.tokens) * p.d), h(p.f);
  for (int t = 0; t < p.tokens; ++t) {
    for (int j = 0; j < p.f; ++j) {
      double up = biases ? p.b_up[j] : 0.0, gate = biases && p.gated ? p.b_gate[j] : 0.0;
      for (int i = 0; i < p.d; ++i) {
        up += p.x[std::size_t(t) * p.d + i] * p.w_up[std::size_t(j) * p.d + i];
        if (p.gated) gate += p.x[std::size_t(t) * p.d + i] * p.w_gate[std::size_t(j) * p.d + i];
      }
      h[j] = to_float(to_bits(float(p.gated ? act(gate, a) * up : act(up, a)), dtype), dtype);
    }
    for (int o = 0; o < p.d; ++o) {
      double y = (biases ? p.b_down[o] : 0.0) + (residual ? p.residual[std::size_t(t) * p.d + o] : 0.0);
      for (int j = 0; j < p.f; ++j) y += h[j] * p.w_down[std::size_t(o) * p.f + j];
      out[std::size_t(t) * p.d + o] = y;
    }
  }
  return out;
}

const Activation kActivations[] = {Activation::kNone, Activation::kRelu, Activation::kGeluErf, Activation::kGeluTanh,
                                   Activation::kSilu};

}  // namespace

TEST(MlpReference, MatchesNaiveMlpForEveryVariant) {
  std::mt19937 rng(std::random_device{}());
  for (MlpDType dtype : {MlpDType::kFloat16, MlpDType::kBFloat16})
    for (bool gated : {false, true}) {
      const Problem p = make_problem(3, 16, 24, gated, dtype, rng);
      for (WeightLayout layout : {WeightLayout::kOutIn, WeightLayout::kInOut})
        for (GateUpPacking packing : {GateUpPacking::kConcatenated, GateUpPacking::kInterleaved}) {
          const Buffers b = pack(p, layout, packing, dtype);
          for (Activation a : kActivations)
            for (bool extras : {false, true}) {
              SCOPED_TRACE(std::string(to_string(dtype)) + (gated ? " gated " : " ") + to_string(layout) + " " +
                           to_string(packing) + " " + to_string(a) + (extras ? " bias+residual" : ""));
              const MlpParams m = params_for(p, b, a, layout, packing, dtype, extras, extras);
              std::vector<float> ours(std::size_t(p.tokens) * p.d);
              mlp_reference_f32(m, ours.data());
              const auto ref = naive(p, a, dtype, extras, extras);
              for (std::size_t i = 0; i < ours.size(); ++i) {
                ASSERT_NEAR(ours[i], ref[i], 1e-5 * (1.0 + std::abs(ref[i]))) << "element " << i;
              }
              // The rounded output is the fp32 one rounded to the dtype.
              std::vector<uint16_t> rounded(ours.size());
              MlpParams r = m;
              r.out = rounded.data();
              mlp_reference(r);
              for (std::size_t i = 0; i < ours.size(); ++i) ASSERT_EQ(rounded[i], to_bits(ours[i], dtype));
            }
        }
    }
}

TEST(MlpReference, ActivationsTakeTheirKnownValues) {
  // x = e_0, W_up = W_down = I: out[0] = act(x0) rounded to the dtype.
  struct Known {
    Activation a;
    double x, y;
  };
  const Known known[] = {
      {Activation::kNone, -1.5, -1.5},
      {Activation::kRelu, -1.5, 0.0},
      {Activation::kRelu, 1.5, 1.5},
      {Activation::kGeluErf, 1.0, 0.8413447460685429},
      {Activation::kGeluErf, -2.0, -0.04550026389635842},
      {Activation::kGeluTanh, 1.0, 0.8411919906082768},
      {Activation::kGeluTanh, -2.0, -0.04540230591222},
      {Activation::kSilu, 1.0, 0.7310585786300049},
      {Activation::kSilu, -2.0, -0.2384058440442351},
  };
  const int d = 8;
  std::vector<uint16_t> identity(d * d, 0), x(d, 0), out(d);
  const auto dtype = MlpDType::kFloat16;
  for (int i = 0; i < d; ++i) identity[i * d + i] = to_bits(1.0f, dtype);
  for (const Known& k : known) {
    x[0] = to_bits(float(k.x), dtype);
    MlpParams m;
    m.x = x.data();
    m.w_up = identity.data();
    m.w_down = identity.data();
    m.out = out.data();
    m.tokens = 1;
    m.d_model = m.d_ff = d;
    m.activation = k.a;
    m.dtype = dtype;
    mlp_reference(m);
    EXPECT_EQ(out[0], to_bits(float(k.y), dtype)) << to_string(k.a) << "(" << k.x << ")";
    for (int i = 1; i < d; ++i) EXPECT_EQ(to_float(out[i], dtype), 0.0f);
  }
}

TEST(MlpReference, GatedProductAndHRounding) {
  // d = f = 8, gate = 2 x0, up = 3 x0 (concatenated [gate; up]), act = none:
  // h0 = 6 x0^2 rounded to fp16, out0 = h0.
  const int d = 8;
  const auto dtype = MlpDType::kFloat16;
  std::vector<uint16_t> w_up(2 * d * d, 0), w_down(d * d, 0), x(d, 0), out(d);
  w_up[0] = to_bits(2.0f, dtype);
  w_up[d * d] = to_bits(3.0f, dtype);
  for (int i = 0; i < d; ++i) w_down[i * d + i] = to_bits(1.0f, dtype);
  x[0] = to_bits(1.0009765625f, dtype);  // 1 + 2^-10: 6 x^2 = 6.01172..., not an fp16 value
  MlpParams m;
  m.x = x.data();
  m.w_up = w_up.data();
  m.w_down = w_down.data();
  m.out = out.data();
  m.tokens = 1;
  m.d_model = m.d_ff = d;
  m.activation = Activation::kNone;
  m.gated = true;
  m.dtype = dtype;
  std::vector<float> f32(d);
  mlp_reference_f32(m, f32.data());
  const double exact = 6.0 * 1.0009765625 * 1.0009765625;
  EXPECT_EQ(f32[0], to_float(to_bits(float(exact), dtype), dtype));  // h was rounded
  EXPECT_NE(double(f32[0]), exact);
}

TEST(MlpReference, LayoutsAndPackingsDescribeTheSameMlp) {
  std::mt19937 rng(1234);
  const auto dtype = MlpDType::kBFloat16;
  const Problem p = make_problem(5, 24, 40, true, dtype, rng);
  std::vector<uint16_t> first;
  for (WeightLayout layout : {WeightLayout::kOutIn, WeightLayout::kInOut})
    for (GateUpPacking packing : {GateUpPacking::kConcatenated, GateUpPacking::kInterleaved}) {
      const Buffers b = pack(p, layout, packing, dtype);
      MlpParams m = params_for(p, b, Activation::kSilu, layout, packing, dtype, true, true);
      std::vector<uint16_t> out(std::size_t(p.tokens) * p.d);
      m.out = out.data();
      mlp_reference(m);
      if (first.empty()) {
        first = out;
      } else {
        EXPECT_EQ(out, first) << to_string(layout) << " " << to_string(packing);
      }
    }
}

TEST(MlpReference, ValidateNamesTheProblem) {
  std::vector<uint16_t> buffer(64 * 64);
  MlpParams good;
  good.x = good.w_up = good.w_down = buffer.data();
  good.out = buffer.data();
  good.tokens = 2;
  good.d_model = 16;
  good.d_ff = 32;
  EXPECT_NO_THROW(validate(good));
  auto message = [](const MlpParams& p) -> std::string {
    try {
      validate(p);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "accepted";
  };
  MlpParams p = good;
  p.w_down = nullptr;
  EXPECT_NE(message(p).find("w_down is null"), std::string::npos) << message(p);
  p = good;
  p.tokens = 0;
  EXPECT_NE(message(p).find("tokens must be positive"), std::string::npos) << message(p);
  p = good;
  p.d_model = 20;
  EXPECT_NE(message(p).find("d_model 20 is not a multiple of 8"), std::string::npos) << message(p);
  p = good;
  p.d_ff = 36;
  EXPECT_NE(message(p).find("d_ff 36 is not a multiple of 8"), std::string::npos) << message(p);
  p = good;
  p.activation = static_cast<Activation>(17);
  EXPECT_NE(message(p).find("unknown activation"), std::string::npos) << message(p);
  p = good;
  p.num_splits = -1;
  EXPECT_NE(message(p).find("num_splits"), std::string::npos) << message(p);
  p = good;
  p.row_block = -3;
  EXPECT_NE(message(p).find("row_block must be >= 0"), std::string::npos) << message(p);
  p = good;
  p.overlap = static_cast<RowBlockOverlap>(5);
  EXPECT_NE(message(p).find("unknown row-block overlap"), std::string::npos) << message(p);
  p = good;
  p.gated = true;
  p.d_ff = 1 << 30;
  EXPECT_NE(message(p).find("too large for a gated MLP"), std::string::npos) << message(p);
  // The reference checks the same things.
  p = good;
  p.d_model = 12;
  std::vector<float> out(64);
  EXPECT_THROW(mlp_reference_f32(p, out.data()), std::invalid_argument);
}

TEST(MlpReference, EnumNames) {
  EXPECT_STREQ(to_string(Activation::kGeluTanh), "gelu_tanh");
  EXPECT_STREQ(to_string(Activation::kGeluErf), "gelu");
  EXPECT_STREQ(to_string(WeightLayout::kInOut), "in_out");
  EXPECT_STREQ(to_string(GateUpPacking::kInterleaved), "interleaved");
  EXPECT_STREQ(to_string(MlpImpl::kCublasLt), "cublaslt");
  EXPECT_STREQ(to_string(MlpDType::kBFloat16), "bf16");
  EXPECT_STREQ(to_string(RowBlockOverlap::kAuto), "auto");
  EXPECT_STREQ(to_string(RowBlockOverlap::kOff), "off");
  EXPECT_STREQ(to_string(RowBlockOverlap::kOn), "on");
}
