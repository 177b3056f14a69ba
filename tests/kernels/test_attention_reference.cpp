// The attention CPU reference against a naive double-precision
// softmax(scale Q K^T + mask) V written here, the fp16/bf16 bit conversions,
// and validate(). Runs without a GPU (CI).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "mlopt/kernels/attention.h"
#include "mlopt/kernels/half_bits.h"

using namespace mlopt::kernels;

namespace {

float to_float(uint16_t bits, AttentionDType dtype) {
  return dtype == AttentionDType::kFloat16 ? half_bits_to_float(bits) : bf16_bits_to_float(bits);
}
uint16_t to_bits(float x, AttentionDType dtype) {
  return dtype == AttentionDType::kFloat16 ? float_to_half_bits(x) : float_to_bf16_bits(x);
}

struct Shape {
  int batch, q_heads, kv_heads, q_len, kv_len, head_dim;
  bool causal;
  AttentionDType dtype;
};

std::string describe(const Shape& s) {
  return "batch " + std::to_string(s.batch) + ", heads " + std::to_string(s.q_heads) + "/" +
         std::to_string(s.kv_heads) + ", q_len " + std::to_string(s.q_len) + ", kv_len " + std::to_string(s.kv_len) +
         ", head_dim " + std::to_string(s.head_dim) + (s.causal ? ", causal" : "") + ", " + to_string(s.dtype);
}

// Logical BHSD tensors in double, from the dtype-rounded random values.
struct Problem {
  Shape shape;
  std::vector<double> q, k, v;  // [b][h][s][d]
};

Problem make_problem(const Shape& s, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto fill = [&](std::vector<double>& t, std::size_t n) {
    t.resize(n);
    for (auto& x : t) x = to_float(to_bits(normal(rng), s.dtype), s.dtype);
  };
  Problem p{s, {}, {}, {}};
  fill(p.q, std::size_t(s.batch) * s.q_heads * s.q_len * s.head_dim);
  fill(p.k, std::size_t(s.batch) * s.kv_heads * s.kv_len * s.head_dim);
  fill(p.v, std::size_t(s.batch) * s.kv_heads * s.kv_len * s.head_dim);
  return p;
}

// Writes a logical BHSD tensor into raw bits with the given strides.
std::vector<uint16_t> pack(const std::vector<double>& t, int batch, int heads, int rows, int dim,
                           const TensorStrides& st, AttentionDType dtype) {
  std::vector<uint16_t> out(t.size());
  std::size_t i = 0;
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < heads; ++h)
      for (int r = 0; r < rows; ++r)
        for (int d = 0; d < dim; ++d) out[b * st.batch + h * st.head + r * st.row + d] = to_bits(float(t[i++]), dtype);
  return out;
}

// The naive attention: the full masked score matrix of one (batch, head),
// then a textbook softmax and P V. out is logical BHSD, lse [b][h][q].
void naive_attention(const Problem& pr, std::vector<double>& out, std::vector<double>& lse) {
  const Shape& s = pr.shape;
  const double scale = 1.0 / std::sqrt(double(s.head_dim));
  const double inf = std::numeric_limits<double>::infinity();
  out.assign(std::size_t(s.batch) * s.q_heads * s.q_len * s.head_dim, 0.0);
  lse.assign(std::size_t(s.batch) * s.q_heads * s.q_len, 0.0);
  const int group = s.q_heads / s.kv_heads;
  for (int b = 0; b < s.batch; ++b) {
    for (int h = 0; h < s.q_heads; ++h) {
      const int kvh = h / group;
      auto Q = [&](int i, int d) { return pr.q[((std::size_t(b) * s.q_heads + h) * s.q_len + i) * s.head_dim + d]; };
      auto K = [&](int j, int d) { return pr.k[((std::size_t(b) * s.kv_heads + kvh) * s.kv_len + j) * s.head_dim + d]; };
      auto V = [&](int j, int d) { return pr.v[((std::size_t(b) * s.kv_heads + kvh) * s.kv_len + j) * s.head_dim + d]; };
      std::vector<std::vector<double>> S(s.q_len, std::vector<double>(s.kv_len));
      for (int i = 0; i < s.q_len; ++i)
        for (int j = 0; j < s.kv_len; ++j) {
          const bool masked = s.causal && j > i + (s.kv_len - s.q_len);
          double dot = 0;
          for (int d = 0; d < s.head_dim; ++d) dot += Q(i, d) * K(j, d);
          S[i][j] = masked ? -inf : dot * scale;
        }
      for (int i = 0; i < s.q_len; ++i) {
        double mx = -inf;
        for (double x : S[i]) mx = std::max(mx, x);
        const std::size_t row = (std::size_t(b) * s.q_heads + h) * s.q_len + i;
        if (mx == -inf) {  // sees no key
          lse[row] = -inf;
          continue;
        }
        double sum = 0;
        for (double x : S[i]) sum += std::exp(x - mx);
        lse[row] = mx + std::log(sum);
        for (int d = 0; d < s.head_dim; ++d) {
          double acc = 0;
          for (int j = 0; j < s.kv_len; ++j) acc += std::exp(S[i][j] - mx) / sum * V(j, d);
          out[row * s.head_dim + d] = acc;
        }
      }
    }
  }
}

struct RefResult {
  std::vector<float> out_f32;   // with out's strides
  std::vector<float> lse;
  std::vector<uint16_t> out_bits;
  std::vector<float> lse_rounded_call;
};

enum class Layout { kBHSD, kBSHD };

RefResult run_reference(const Problem& pr, Layout layout) {
  const Shape& s = pr.shape;
  auto strides = [&](int heads, int rows) {
    return layout == Layout::kBHSD ? bhsd_strides(heads, rows, s.head_dim) : bshd_strides(heads, rows, s.head_dim);
  };
  AttentionParams p;
  p.q_strides = strides(s.q_heads, s.q_len);
  p.k_strides = strides(s.kv_heads, s.kv_len);
  p.v_strides = strides(s.kv_heads, s.kv_len);
  p.out_strides = strides(s.q_heads, s.q_len);
  auto q = pack(pr.q, s.batch, s.q_heads, s.q_len, s.head_dim, p.q_strides, s.dtype);
  auto k = pack(pr.k, s.batch, s.kv_heads, s.kv_len, s.head_dim, p.k_strides, s.dtype);
  auto v = pack(pr.v, s.batch, s.kv_heads, s.kv_len, s.head_dim, p.v_strides, s.dtype);
  RefResult r;
  r.out_f32.assign(pr.q.size(), std::nanf(""));
  r.lse.assign(std::size_t(s.batch) * s.q_heads * s.q_len, std::nanf(""));
  r.out_bits.assign(pr.q.size(), 0xFFFF);
  r.lse_rounded_call.assign(r.lse.size(), std::nanf(""));
  p.q = q.data();
  p.k = k.data();
  p.v = v.data();
  p.batch = s.batch;
  p.q_heads = s.q_heads;
  p.kv_heads = s.kv_heads;
  p.q_len = s.q_len;
  p.kv_len = s.kv_len;
  p.head_dim = s.head_dim;
  p.softmax_scale = float(1.0 / std::sqrt(double(s.head_dim)));
  p.causal = s.causal;
  p.dtype = s.dtype;
  attention_reference_f32(p, r.out_f32.data(), r.lse.data());
  p.out = r.out_bits.data();
  p.lse = r.lse_rounded_call.data();
  attention_reference(p);
  // Back to logical BHSD order for comparisons.
  std::vector<float> f(r.out_f32.size());
  std::vector<uint16_t> bits(r.out_bits.size());
  std::size_t i = 0;
  for (int b = 0; b < s.batch; ++b)
    for (int h = 0; h < s.q_heads; ++h)
      for (int t = 0; t < s.q_len; ++t)
        for (int d = 0; d < s.head_dim; ++d, ++i) {
          const auto at = b * p.out_strides.batch + h * p.out_strides.head + t * p.out_strides.row + d;
          f[i] = r.out_f32[at];
          bits[i] = r.out_bits[at];
        }
  r.out_f32 = f;
  r.out_bits = bits;
  return r;
}

void check_against_naive(const Shape& s, std::mt19937& rng) {
  SCOPED_TRACE(describe(s));
  const Problem pr = make_problem(s, rng);
  std::vector<double> out, lse;
  naive_attention(pr, out, lse);
  const RefResult r = run_reference(pr, Layout::kBHSD);
  for (std::size_t i = 0; i < out.size(); ++i) {
    ASSERT_NEAR(r.out_f32[i], out[i], 1e-5) << "out element " << i;
    // The rounded output is the fp32 output rounded once to the dtype.
    ASSERT_EQ(r.out_bits[i], to_bits(r.out_f32[i], s.dtype)) << "out element " << i;
  }
  for (std::size_t i = 0; i < lse.size(); ++i) {
    if (std::isinf(lse[i])) {
      ASSERT_TRUE(std::isinf(r.lse[i]) && r.lse[i] < 0) << "lse row " << i << " should be -inf, got " << r.lse[i];
      for (int d = 0; d < s.head_dim; ++d) ASSERT_EQ(r.out_f32[i * s.head_dim + d], 0.0f);
    } else {
      ASSERT_NEAR(r.lse[i], lse[i], 1e-5 * (1 + std::abs(lse[i]))) << "lse row " << i;
    }
    ASSERT_EQ(r.lse_rounded_call[i], r.lse[i]) << "lse row " << i;
  }
}

}  // namespace

TEST(AttentionReference, MatchesNaiveAttention) {
  std::mt19937 rng(std::random_device{}());
  const auto f16 = AttentionDType::kFloat16, bf16 = AttentionDType::kBFloat16;
  const Shape shapes[] = {
      {2, 3, 3, 5, 7, 8, false, f16},    // non-causal, q_len != kv_len
      {2, 2, 2, 9, 9, 16, true, bf16},   // causal, square
      {1, 2, 2, 3, 11, 8, true, f16},    // causal bottom-right: query i sees keys <= i + 8
      {1, 2, 2, 1, 13, 8, true, bf16},   // decode: the one query sees every key
      {2, 4, 2, 6, 6, 8, true, f16},     // GQA, 2 q heads per kv head
      {1, 4, 1, 4, 10, 8, false, bf16},  // MQA
      {1, 2, 2, 7, 3, 8, true, f16},     // q_len > kv_len: queries 0..3 see no key
      {1, 1, 1, 1, 1, 64, false, bf16},  // a single key: out = v
  };
  for (const Shape& s : shapes) check_against_naive(s, rng);
}

TEST(AttentionReference, FullyMaskedRowsAreZeroWithMinusInfLse) {
  std::mt19937 rng(std::random_device{}());
  const Shape s{1, 2, 1, 6, 2, 8, true, AttentionDType::kFloat16};  // offset -4: queries 0..3 see nothing
  const Problem pr = make_problem(s, rng);
  const RefResult r = run_reference(pr, Layout::kBHSD);
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 6; ++i) {
      const std::size_t row = std::size_t(h) * 6 + i;
      if (i < 4) {
        EXPECT_EQ(r.lse[row], -std::numeric_limits<float>::infinity()) << "row " << i;
        for (int d = 0; d < 8; ++d) EXPECT_EQ(r.out_bits[row * 8 + d], 0u) << "row " << i;
      } else {
        EXPECT_TRUE(std::isfinite(r.lse[row])) << "row " << i;
      }
    }
  // Query 4 sees exactly key 0: its output is v[0].
  for (int d = 0; d < 8; ++d) EXPECT_FLOAT_EQ(r.out_f32[4 * 8 + d], float(pr.v[d]));
}

TEST(AttentionReference, BshdStridesGiveTheSameResultAsBhsd) {
  std::mt19937 rng(std::random_device{}());
  for (const Shape& s : {Shape{2, 4, 2, 5, 9, 16, true, AttentionDType::kBFloat16},
                         Shape{3, 2, 1, 7, 4, 8, false, AttentionDType::kFloat16}}) {
    SCOPED_TRACE(describe(s));
    const Problem pr = make_problem(s, rng);
    const RefResult a = run_reference(pr, Layout::kBHSD);
    const RefResult b = run_reference(pr, Layout::kBSHD);
    EXPECT_EQ(a.out_f32, b.out_f32);
    EXPECT_EQ(a.out_bits, b.out_bits);
    EXPECT_EQ(a.lse, b.lse);
  }
}

// ---- bit conversions ----

TEST(HalfBits, EveryFp16PatternRoundTrips) {
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    const float f = half_bits_to_float(uint16_t(h));
    if (std::isnan(f)) {
      EXPECT_TRUE((h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0) << std::hex << h;
      EXPECT_TRUE(std::isnan(half_bits_to_float(float_to_half_bits(f)))) << std::hex << h;
    } else {
      ASSERT_EQ(float_to_half_bits(f), h) << std::hex << h;
    }
  }
  EXPECT_EQ(half_bits_to_float(0x3C00), 1.0f);
  EXPECT_EQ(half_bits_to_float(0xC000), -2.0f);
  EXPECT_EQ(half_bits_to_float(0x7BFF), 65504.0f);
  EXPECT_EQ(half_bits_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(half_bits_to_float(0x0400), std::ldexp(1.0f, -14));
}

TEST(HalfBits, EveryBf16PatternRoundTrips) {
  for (uint32_t b = 0; b <= 0xFFFF; ++b) {
    const float f = bf16_bits_to_float(uint16_t(b));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bf16_bits_to_float(float_to_bf16_bits(f)))) << std::hex << b;
    } else {
      ASSERT_EQ(float_to_bf16_bits(f), b) << std::hex << b;
    }
  }
  EXPECT_EQ(bf16_bits_to_float(0x3F80), 1.0f);
  EXPECT_EQ(bf16_bits_to_float(0xC040), -3.0f);
}

TEST(HalfBits, Fp16RoundsToNearestEven) {
  const float ulp1 = std::ldexp(1.0f, -10);  // spacing of fp16 at 1
  EXPECT_EQ(float_to_half_bits(1.0f + ulp1 / 2), 0x3C00);      // tie: stays on even 1.0
  EXPECT_EQ(float_to_half_bits(1.0f + 3 * ulp1 / 2), 0x3C02);  // tie: up to even
  EXPECT_EQ(float_to_half_bits(1.0f + ulp1 * 0.51f), 0x3C01);
  EXPECT_EQ(float_to_half_bits(65519.0f), 0x7BFF);  // just below the tie with 65536
  EXPECT_EQ(float_to_half_bits(65520.0f), 0x7C00);  // tie rounds to even: inf
  EXPECT_EQ(float_to_half_bits(1e9f), 0x7C00);
  EXPECT_EQ(float_to_half_bits(-1e9f), 0xFC00);
  EXPECT_EQ(float_to_half_bits(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(float_to_half_bits(std::ldexp(1.0f, -25)), 0x0000);  // tie: to even 0
  EXPECT_EQ(float_to_half_bits(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(float_to_half_bits(std::ldexp(3.0f, -25)), 0x0002);  // tie: to even 2
  EXPECT_EQ(float_to_half_bits(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26)), 0x0400);  // carry to normal
  EXPECT_EQ(float_to_half_bits(-0.0f), 0x8000);
  EXPECT_EQ(float_to_half_bits(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_TRUE(std::isnan(half_bits_to_float(float_to_half_bits(std::nanf("")))));
  EXPECT_EQ(float_to_half_bits(std::numeric_limits<float>::denorm_min()), 0x0000);

  // Random floats across fp16's range: the result is the nearest fp16, ties to even.
  std::mt19937 rng(std::random_device{}());
  std::uniform_real_distribution<float> exponent(-27.0f, 16.5f);
  for (int n = 0; n < 200000; ++n) {
    const float x = std::exp2(exponent(rng)) * (rng() % 2 ? 1.0f : -1.0f);
    const uint16_t h = float_to_half_bits(x);
    const double err = std::abs(double(half_bits_to_float(h)) - x);
    for (int step : {-1, 1}) {
      const uint16_t mag = uint16_t((h & 0x7FFF) + step);
      if ((h & 0x7FFF) == 0 && step < 0) continue;
      if (mag > 0x7C00) continue;
      const double other = std::abs(double(half_bits_to_float(uint16_t((h & 0x8000) | mag))) - x);
      if (std::isinf(half_bits_to_float(h))) {
        ASSERT_GE(std::abs(x), 65520.0f);
        continue;
      }
      ASSERT_LE(err, other) << x;
      if (err == other) {
        ASSERT_EQ(h & 1, 0) << "tie not to even for " << x;
      }
    }
  }
}

TEST(HalfBits, Bf16RoundsToNearestEven) {
  const float ulp1 = std::ldexp(1.0f, -7);  // spacing of bf16 at 1
  EXPECT_EQ(float_to_bf16_bits(1.0f + ulp1 / 2), 0x3F80);
  EXPECT_EQ(float_to_bf16_bits(1.0f + 3 * ulp1 / 2), 0x3F82);
  EXPECT_EQ(float_to_bf16_bits(1.0f + ulp1 * 0.51f), 0x3F81);
  EXPECT_EQ(float_to_bf16_bits(std::numeric_limits<float>::max()), 0x7F80);  // rounds up to inf
  EXPECT_EQ(float_to_bf16_bits(-0.0f), 0x8000);
  EXPECT_TRUE(std::isnan(bf16_bits_to_float(float_to_bf16_bits(std::nanf("")))));
  std::mt19937 rng(std::random_device{}());
  std::uniform_real_distribution<float> exponent(-130.0f, 120.0f);
  for (int n = 0; n < 200000; ++n) {
    const float x = std::exp2(exponent(rng)) * (rng() % 2 ? 1.0f : -1.0f);
    const uint16_t b = float_to_bf16_bits(x);
    const double err = std::abs(double(bf16_bits_to_float(b)) - x);
    for (int step : {-1, 1}) {
      if ((b & 0x7FFF) == 0 && step < 0) continue;
      const double other = std::abs(double(bf16_bits_to_float(uint16_t(b + step))) - x);
      ASSERT_LE(err, other) << x;
      if (err == other) {
        ASSERT_EQ(b & 1, 0) << "tie not to even for " << x;
      }
    }
  }
}

// ---- validate ----

namespace {
AttentionParams valid_params() {
  static uint16_t dummy[8];
  AttentionParams p;
  p.q = p.k = p.v = dummy;
  p.out = dummy;
  p.batch = 2;
  p.q_heads = 8;
  p.kv_heads = 2;
  p.q_len = 17;
  p.kv_len = 33;
  p.head_dim = 64;
  p.q_strides = p.out_strides = bhsd_strides(8, 17, 64);
  p.k_strides = p.v_strides = bhsd_strides(2, 33, 64);
  p.softmax_scale = 0.125f;
  return p;
}

template <class Mutate>
void expect_rejected(Mutate mutate, const std::string& names) {
  AttentionParams p = valid_params();
  mutate(p);
  try {
    validate(p);
    ADD_FAILURE() << "validate accepted a bad " << names;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(names), std::string::npos) << "message: " << e.what();
  }
}
}  // namespace

TEST(AttentionValidate, AcceptsSupportedParams) {
  AttentionParams p = valid_params();
  EXPECT_NO_THROW(validate(p));
  p.head_dim = 128;
  p.dtype = AttentionDType::kBFloat16;
  p.q_strides = bshd_strides(8, 17, 128);
  p.kv_heads = 1;  // MQA
  EXPECT_NO_THROW(validate(p));
}

TEST(AttentionValidate, RejectsEachBadParameterByName) {
  expect_rejected([](AttentionParams& p) { p.head_dim = 96; }, "head_dim 96 is not supported");
  expect_rejected([](AttentionParams& p) { p.head_dim = 0; }, "head_dim must be positive");
  expect_rejected([](AttentionParams& p) { p.dtype = static_cast<AttentionDType>(7); }, "dtype");
  expect_rejected([](AttentionParams& p) { p.q = nullptr; }, "q is a null pointer");
  expect_rejected([](AttentionParams& p) { p.k = nullptr; }, "k is a null pointer");
  expect_rejected([](AttentionParams& p) { p.v = nullptr; }, "v is a null pointer");
  expect_rejected([](AttentionParams& p) { p.out = nullptr; }, "out is a null pointer");
  expect_rejected([](AttentionParams& p) { p.kv_heads = 3; }, "kv_heads (3) must divide q_heads (8)");
  expect_rejected([](AttentionParams& p) { p.kv_heads = 0; }, "kv_heads must be positive");
  expect_rejected([](AttentionParams& p) { p.q_heads = -8; }, "q_heads must be positive");
  expect_rejected([](AttentionParams& p) { p.batch = 0; }, "batch must be positive");
  expect_rejected([](AttentionParams& p) { p.q_len = 0; }, "q_len must be positive");
  expect_rejected([](AttentionParams& p) { p.kv_len = -1; }, "kv_len must be positive");
  expect_rejected([](AttentionParams& p) { p.q_strides.dim = 2; }, "q_strides.dim");
  expect_rejected([](AttentionParams& p) { p.k_strides.dim = 0; }, "k_strides.dim");
  expect_rejected([](AttentionParams& p) { p.v_strides.dim = 64; }, "v_strides.dim");
  expect_rejected([](AttentionParams& p) { p.out_strides.dim = -1; }, "out_strides.dim");
  expect_rejected([](AttentionParams& p) { p.softmax_scale = std::nanf(""); }, "softmax_scale");
}
