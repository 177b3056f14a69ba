// The GPU attention forward against the CPU reference (ctest -L gpu).
//
// Tolerance. The reference accumulates in double from the same fp16/bf16
// inputs. Our kernel's error comes from rounding P to the input dtype before
// the P V product and rounding the output; naive attention computed in the
// same low precision (S = Q K^T rounded to the dtype, scaled and rounded,
// softmax in fp32 rounded to the dtype, P V accumulated in fp32 and rounded:
// what `softmax(q @ k.T * scale) @ v` does in PyTorch) has those errors and
// more. So each case computes that naive error too, and requires
//   max |ours - ref| <= max |naive - ref| + one ulp of the dtype at max |ref|
// (the margin covers different elements landing on the other side of a
// rounding boundary). lse is fp32 arithmetic on exact products: its error is
// ~1e-5 at these sizes; 1e-3 leaves room for tensor-core accumulation order
// while a masking mistake moves the output far past its bound anyway.
// Outputs are poisoned (NaN) before each run, so an unwritten element fails
// the finiteness check.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "mlopt/kernels/attention.h"
#include "mlopt/kernels/cuda_check.h"
#include "mlopt/kernels/cuda_event.h"
#include "mlopt/kernels/device_query.h"
#include "mlopt/kernels/half_bits.h"
#include "mlopt/kernels/poison.h"

using namespace mlopt::kernels;

namespace {

constexpr auto kF16 = AttentionDType::kFloat16;
constexpr auto kBF16 = AttentionDType::kBFloat16;

enum class Layout { kBHSD, kBSHD, kPaddedRows };  // kPaddedRows: BHSD with row stride head_dim + 3 (unaligned loads)

struct Case {
  AttentionDType dtype;
  int head_dim;
  int batch, q_heads, kv_heads, q_len, kv_len;
  bool causal;
  Layout layout = Layout::kBHSD;
  bool with_lse = true;
};

std::string describe(const Case& c) {
  const char* layouts[] = {"BHSD", "BSHD", "padded rows"};
  return std::string(to_string(c.dtype)) + " d" + std::to_string(c.head_dim) + " b" + std::to_string(c.batch) +
         " h" + std::to_string(c.q_heads) + "/" + std::to_string(c.kv_heads) + " q" + std::to_string(c.q_len) +
         " kv" + std::to_string(c.kv_len) + (c.causal ? " causal " : " ") + layouts[int(c.layout)] +
         (c.with_lse ? "" : " no-lse");
}

float to_float(uint16_t bits, AttentionDType dtype) {
  return dtype == kF16 ? half_bits_to_float(bits) : bf16_bits_to_float(bits);
}
uint16_t to_bits(float x, AttentionDType dtype) { return dtype == kF16 ? float_to_half_bits(x) : float_to_bf16_bits(x); }
float round_to(float x, AttentionDType dtype) { return to_float(to_bits(x, dtype), dtype); }

TensorStrides strides_for(Layout layout, int heads, int rows, int dim) {
  switch (layout) {
    case Layout::kBHSD: return bhsd_strides(heads, rows, dim);
    case Layout::kBSHD: return bshd_strides(heads, rows, dim);
    case Layout::kPaddedRows: {
      const int64_t row = dim + 3;
      return {int64_t{heads} * rows * row, int64_t{rows} * row, row, 1};
    }
  }
  return {};
}
int64_t extent(const TensorStrides& s, int batch, int heads, int rows, int dim) {
  return (batch - 1) * s.batch + (heads - 1) * s.head + (rows - 1) * s.row + dim;
}

struct DeviceBuffer {
  void* ptr = nullptr;
  std::size_t bytes = 0;
  explicit DeviceBuffer(std::size_t n) : bytes(n) { MLOPT_CUDA_CHECK(cudaMalloc(&ptr, n)); }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

// Naive attention in the input dtype (see the tolerance note above); out
// written with the out strides of `p`, as floats.
void naive_low_precision(const AttentionParams& p, std::vector<float>& out) {
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

float ulp_at(float magnitude, AttentionDType dtype) {
  const int mantissa_bits = dtype == kF16 ? 10 : 7;
  int exponent = 0;
  std::frexp(std::max(magnitude, 1e-3f), &exponent);  // magnitude in [2^(e-1), 2^e)
  return std::ldexp(1.0f, exponent - 1 - mantissa_bits);
}

void run_case(const Case& c, std::mt19937& rng) {
  SCOPED_TRACE(describe(c));
  AttentionParams p;
  p.batch = c.batch;
  p.q_heads = c.q_heads;
  p.kv_heads = c.kv_heads;
  p.q_len = c.q_len;
  p.kv_len = c.kv_len;
  p.head_dim = c.head_dim;
  p.softmax_scale = 1.0f / std::sqrt(float(c.head_dim));
  p.causal = c.causal;
  p.dtype = c.dtype;
  p.q_strides = p.out_strides = strides_for(c.layout, c.q_heads, c.q_len, c.head_dim);
  p.k_strides = p.v_strides = strides_for(c.layout, c.kv_heads, c.kv_len, c.head_dim);
  const int64_t q_n = extent(p.q_strides, c.batch, c.q_heads, c.q_len, c.head_dim);
  const int64_t kv_n = extent(p.k_strides, c.batch, c.kv_heads, c.kv_len, c.head_dim);
  const int64_t rows = int64_t{c.batch} * c.q_heads * c.q_len;

  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto random_bits = [&](int64_t n) {
    std::vector<uint16_t> t(n);
    for (auto& x : t) x = to_bits(normal(rng), c.dtype);
    return t;
  };
  const auto q = random_bits(q_n), k = random_bits(kv_n), v = random_bits(kv_n);

  CudaStream stream;
  DeviceBuffer dq(q_n * 2), dk(kv_n * 2), dv(kv_n * 2), dout(q_n * 2), dlse(rows * 4);
  MLOPT_CUDA_CHECK(cudaMemcpy(dq.ptr, q.data(), q_n * 2, cudaMemcpyHostToDevice));
  MLOPT_CUDA_CHECK(cudaMemcpy(dk.ptr, k.data(), kv_n * 2, cudaMemcpyHostToDevice));
  MLOPT_CUDA_CHECK(cudaMemcpy(dv.ptr, v.data(), kv_n * 2, cudaMemcpyHostToDevice));
  poison_device(dout.ptr, dout.bytes, stream.get());
  poison_device(dlse.ptr, dlse.bytes, stream.get());
  AttentionParams dp = p;
  dp.q = dq.ptr;
  dp.k = dk.ptr;
  dp.v = dv.ptr;
  dp.out = dout.ptr;
  dp.lse = c.with_lse ? static_cast<float*>(dlse.ptr) : nullptr;
  attention_forward(dp, stream.get());
  stream.synchronize();
  std::vector<uint16_t> out(q_n);
  std::vector<float> lse(rows);
  MLOPT_CUDA_CHECK(cudaMemcpy(out.data(), dout.ptr, q_n * 2, cudaMemcpyDeviceToHost));
  MLOPT_CUDA_CHECK(cudaMemcpy(lse.data(), dlse.ptr, rows * 4, cudaMemcpyDeviceToHost));

  AttentionParams hp = p;
  hp.q = q.data();
  hp.k = k.data();
  hp.v = v.data();
  std::vector<float> ref(q_n, 0.0f), ref_lse(rows), naive(q_n, 0.0f);
  attention_reference_f32(hp, ref.data(), ref_lse.data());
  naive_low_precision(hp, naive);

  double ours_err = 0, naive_err = 0;
  float max_ref = 0;
  int64_t bad = 0, written = 0;
  for (int b = 0; b < c.batch; ++b)
    for (int h = 0; h < c.q_heads; ++h)
      for (int i = 0; i < c.q_len; ++i) {
        const int64_t row = (int64_t{b} * c.q_heads + h) * c.q_len + i;
        const bool sees_nothing = std::isinf(ref_lse[row]);
        for (int d = 0; d < c.head_dim; ++d) {
          const int64_t at = b * p.out_strides.batch + h * p.out_strides.head + i * p.out_strides.row + d;
          const float ours = to_float(out[at], c.dtype);
          ++written;
          if (!std::isfinite(ours) || (sees_nothing && ours != 0.0f)) {
            if (bad++ < 5) ADD_FAILURE() << "out[b" << b << " h" << h << " q" << i << " d" << d << "] = " << ours;
            continue;
          }
          ours_err = std::max(ours_err, std::abs(double(ours) - ref[at]));
          naive_err = std::max(naive_err, std::abs(double(naive[at]) - ref[at]));
          max_ref = std::max(max_ref, std::abs(ref[at]));
        }
        if (c.with_lse) {
          if (sees_nothing) {
            EXPECT_EQ(lse[row], -std::numeric_limits<float>::infinity()) << "lse row " << row;
          } else {
            EXPECT_NEAR(lse[row], ref_lse[row], 1e-3) << "lse row " << row;
          }
        }
      }
  EXPECT_EQ(bad, 0) << "of " << written << " output elements";
  const double margin = ulp_at(max_ref, c.dtype);
  EXPECT_LE(ours_err, naive_err + margin) << "max error ours " << ours_err << ", naive " << to_string(c.dtype)
                                          << " attention " << naive_err << ", margin " << margin;
  if (!c.with_lse) {
    // lse == nullptr: the lse buffer was left poisoned.
    EXPECT_EQ(count_poisoned_host(lse.data(), rows * 4), std::size_t(rows) * 2);
  }
  if (c.layout == Layout::kPaddedRows) {
    // Nothing was written into the padding between rows.
    const std::size_t padding_words = std::size_t(q_n) - std::size_t(rows) * c.head_dim;
    EXPECT_EQ(count_poisoned_host(out.data(), q_n * 2), padding_words);
  }
}

// Every dtype x head_dim combination of the given shapes.
void run_all(std::vector<Case> shapes) {
  std::mt19937 rng(std::random_device{}());
  for (AttentionDType dtype : {kF16, kBF16})
    for (int head_dim : {64, 128})
      for (Case c : shapes) {
        c.dtype = dtype;
        c.head_dim = head_dim;
        run_case(c, rng);
      }
}

#define SKIP_WITHOUT_GPU() \
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device"

}  // namespace

TEST(AttentionGpu, LengthsThatAreNotTileMultiples) {
  SKIP_WITHOUT_GPU();
  std::vector<Case> shapes;
  for (int len : {1, 17, 63, 64, 65, 200}) {
    for (bool causal : {false, true}) shapes.push_back({kF16, 0, 2, 2, 2, len, len, causal});
  }
  for (bool causal : {false, true}) shapes.push_back({kF16, 0, 1, 2, 2, 511, 511, causal});
  run_all(shapes);
}

TEST(AttentionGpu, QueryAndKeyLengthsDiffer) {
  SKIP_WITHOUT_GPU();
  run_all({
      {kF16, 0, 2, 2, 2, 37, 300, false},
      {kF16, 0, 2, 2, 2, 37, 300, true},   // bottom-right: query i sees keys <= i + 263
      {kF16, 0, 1, 2, 2, 130, 67, true},   // q_len > kv_len: the first 63 queries see no key
      {kF16, 0, 1, 2, 2, 130, 67, false},
      {kF16, 0, 2, 4, 4, 1, 1000, false},  // decode-like
      {kF16, 0, 2, 4, 4, 1, 1000, true},
      {kF16, 0, 1, 2, 2, 3, 1000, true},
  });
}

TEST(AttentionGpu, GroupedAndMultiQueryAttention) {
  SKIP_WITHOUT_GPU();
  run_all({
      {kF16, 0, 2, 8, 2, 130, 130, true},   // GQA: 4 q heads per kv head
      {kF16, 0, 1, 8, 2, 70, 129, false},
      {kF16, 0, 2, 4, 1, 70, 129, false},   // MQA
      {kF16, 0, 1, 4, 1, 100, 100, true},
  });
}

TEST(AttentionGpu, StridedLayoutsAndOptionalLse) {
  SKIP_WITHOUT_GPU();
  run_all({
      {kF16, 0, 2, 4, 2, 100, 150, true, Layout::kBSHD},
      {kF16, 0, 2, 4, 4, 65, 65, false, Layout::kBSHD},
      {kF16, 0, 2, 4, 2, 77, 90, true, Layout::kPaddedRows},  // rows not 16-byte aligned: scalar loads
      {kF16, 0, 1, 2, 2, 70, 70, true, Layout::kBHSD, /*with_lse=*/false},
  });
}

TEST(AttentionGpu, RejectsUnsupportedParameters) {
  SKIP_WITHOUT_GPU();
  DeviceBuffer buffer(1 << 16);
  AttentionParams p;
  p.q = p.k = p.v = p.out = buffer.ptr;
  p.batch = p.q_heads = p.kv_heads = 1;
  p.q_len = p.kv_len = 4;
  p.head_dim = 96;
  p.q_strides = p.k_strides = p.v_strides = p.out_strides = bhsd_strides(1, 4, 96);
  p.softmax_scale = 0.1f;
  EXPECT_THROW(attention_forward(p, nullptr), std::invalid_argument);
  p.head_dim = 64;
  p.q_strides = p.k_strides = p.v_strides = p.out_strides = bhsd_strides(1, 4, 64);
  p.kv_heads = 2;
  p.q_heads = 3;
  EXPECT_THROW(attention_forward(p, nullptr), std::invalid_argument);
}
