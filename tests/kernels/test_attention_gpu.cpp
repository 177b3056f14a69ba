// The GPU attention forward against the CPU reference (ctest -L gpu).
// Every case runs through every prefill implementation, the wmma kernel
// (kPrefillWmma), the mma.sync kernel (kPrefillMma) and the Hopper kernel
// (kPrefillSm90: only on a cc 9.0 device in a build that has it; where TMA
// cannot describe q/k/v it must throw std::invalid_argument instead), on
// the same inputs and references.
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
#include <cstdio>
#include <limits>
#include <optional>
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
#include "attention_test_support.h"

using namespace mlopt::kernels;
using namespace mlopt::kernels::attention_test;

namespace {

constexpr auto kF16 = AttentionDType::kFloat16;
constexpr auto kBF16 = AttentionDType::kBFloat16;

// kPaddedRows: BHSD with row stride head_dim + 3 (rows not 16-byte aligned: scalar loads/stores).
// kPaddedAligned: BHSD with row stride head_dim + 8 (strided rows that keep 16-byte alignment).
enum class Layout { kBHSD, kBSHD, kPaddedRows, kPaddedAligned };

const std::vector<AttentionImpl> kPrefillImpls = {AttentionImpl::kPrefillWmma, AttentionImpl::kPrefillMma,
                                                  AttentionImpl::kPrefillSm90};

// Why kPrefillSm90 cannot run in this process ("" when it can): the build
// lacks the Hopper kernels or the current device is not cc 9.0.
std::string sm90_unavailable_reason() {
#ifdef MLOPT_KERNELS_HAVE_SM90
  int device = 0;
  MLOPT_CUDA_CHECK(cudaGetDevice(&device));
  const DeviceProperties props = device_properties(device);
  if (props.compute_major == 9 && props.compute_minor == 0) return {};
  return "the device is compute capability " + std::to_string(props.compute_major) + "." +
         std::to_string(props.compute_minor) + ", not 9.0";
#else
  return "this build has no Hopper kernels (MLOPT_WITH_SM90_KERNELS off)";
#endif
}

// Whether kPrefillSm90 runs here; says why not once per test program.
bool sm90_runs_here() {
  static const std::string reason = sm90_unavailable_reason();
  static bool told = false;
  if (!reason.empty() && !told) {
    std::printf("[   NOTE   ] prefill-sm90 cases skipped: %s\n", reason.c_str());
    told = true;
  }
  return reason.empty();
}

struct Case {
  AttentionDType dtype;
  int head_dim;
  int batch, q_heads, kv_heads, q_len, kv_len;
  bool causal;
  Layout layout = Layout::kBHSD;
  bool with_lse = true;
  std::optional<Layout> out_layout = std::nullopt;  // default: `layout`
  int pointer_offset = 0;                           // elements added to every device pointer (1: 2-byte aligned)
  float scale = 0.0f;                               // 0: 1 / sqrt(head_dim)
};

std::string describe(const Case& c) {
  const char* layouts[] = {"BHSD", "BSHD", "padded rows", "padded aligned rows"};
  return std::string(to_string(c.dtype)) + " d" + std::to_string(c.head_dim) + " b" + std::to_string(c.batch) +
         " h" + std::to_string(c.q_heads) + "/" + std::to_string(c.kv_heads) + " q" + std::to_string(c.q_len) +
         " kv" + std::to_string(c.kv_len) + (c.causal ? " causal " : " ") + layouts[int(c.layout)] +
         (c.out_layout ? std::string(" out ") + layouts[int(*c.out_layout)] : std::string()) +
         (c.pointer_offset != 0 ? " pointers +" + std::to_string(c.pointer_offset) : std::string()) +
         (c.scale != 0.0f ? " scale " + std::to_string(c.scale) : std::string()) +
         (c.with_lse ? "" : " no-lse");
}

TensorStrides strides_for(Layout layout, int heads, int rows, int dim) {
  switch (layout) {
    case Layout::kBHSD: return bhsd_strides(heads, rows, dim);
    case Layout::kBSHD: return bshd_strides(heads, rows, dim);
    case Layout::kPaddedRows:
    case Layout::kPaddedAligned: {
      const int64_t row = dim + (layout == Layout::kPaddedRows ? 3 : 8);
      return {int64_t{heads} * rows * row, int64_t{rows} * row, row, 1};
    }
  }
  return {};
}

// One implementation on the case's inputs, checked against the references.
struct Inputs {
  const std::vector<uint16_t>& q;
  const std::vector<uint16_t>& k;
  const std::vector<uint16_t>& v;
};
struct References {
  const std::vector<float>& out;  // exact (double accumulation), with the out strides
  const std::vector<float>& lse;
  const std::vector<float>& naive;  // naive attention in the dtype, with the out strides
};

void check_impl(const Case& c, const AttentionParams& p, AttentionImpl impl, const Inputs& in, const References& ref) {
  SCOPED_TRACE(to_string(impl));
  const int64_t q_n = extent(p.q_strides, c.batch, c.q_heads, c.q_len, c.head_dim);
  const int64_t kv_n = extent(p.k_strides, c.batch, c.kv_heads, c.kv_len, c.head_dim);
  const int64_t out_n = extent(p.out_strides, c.batch, c.q_heads, c.q_len, c.head_dim);
  const int64_t rows = int64_t{c.batch} * c.q_heads * c.q_len;
  const int64_t off = c.pointer_offset;

  CudaStream stream;
  DeviceBuffer dq((off + q_n) * 2), dk((off + kv_n) * 2), dv((off + kv_n) * 2), dout((off + out_n) * 2),
      dlse(rows * 4);
  auto shifted = [off](const DeviceBuffer& b) { return static_cast<uint16_t*>(b.ptr) + off; };
  MLOPT_CUDA_CHECK(cudaMemcpy(shifted(dq), in.q.data(), q_n * 2, cudaMemcpyHostToDevice));
  MLOPT_CUDA_CHECK(cudaMemcpy(shifted(dk), in.k.data(), kv_n * 2, cudaMemcpyHostToDevice));
  MLOPT_CUDA_CHECK(cudaMemcpy(shifted(dv), in.v.data(), kv_n * 2, cudaMemcpyHostToDevice));
  // A pageable-memory cudaMemcpy may return before its DMA lands, and the
  // non-blocking stream below does not order after the legacy stream.
  MLOPT_CUDA_CHECK(cudaDeviceSynchronize());
  poison_device(dout.ptr, dout.bytes, stream.get());
  poison_device(dlse.ptr, dlse.bytes, stream.get());
  AttentionParams dp = p;
  dp.q = shifted(dq);
  dp.k = shifted(dk);
  dp.v = shifted(dv);
  dp.out = shifted(dout);
  dp.lse = c.with_lse ? static_cast<float*>(dlse.ptr) : nullptr;
  dp.impl = impl;
  attention_forward(dp, stream.get());
  stream.synchronize();
  std::vector<uint16_t> out_buffer(off + out_n);
  std::vector<float> lse(rows);
  MLOPT_CUDA_CHECK(cudaMemcpy(out_buffer.data(), dout.ptr, (off + out_n) * 2, cudaMemcpyDeviceToHost));
  MLOPT_CUDA_CHECK(cudaMemcpy(lse.data(), dlse.ptr, rows * 4, cudaMemcpyDeviceToHost));
  const uint16_t* out = out_buffer.data() + off;

  double ours_err = 0, naive_err = 0;
  float max_ref = 0;
  int64_t bad = 0, written = 0;
  for (int b = 0; b < c.batch; ++b)
    for (int h = 0; h < c.q_heads; ++h)
      for (int i = 0; i < c.q_len; ++i) {
        const int64_t row = (int64_t{b} * c.q_heads + h) * c.q_len + i;
        const bool sees_nothing = std::isinf(ref.lse[row]);
        for (int d = 0; d < c.head_dim; ++d) {
          const int64_t at = b * p.out_strides.batch + h * p.out_strides.head + i * p.out_strides.row + d;
          const float ours = to_float(out[at], c.dtype);
          ++written;
          if (!std::isfinite(ours) || (sees_nothing && ours != 0.0f)) {
            if (bad++ < 5) ADD_FAILURE() << "out[b" << b << " h" << h << " q" << i << " d" << d << "] = " << ours;
            continue;
          }
          ours_err = std::max(ours_err, std::abs(double(ours) - ref.out[at]));
          naive_err = std::max(naive_err, std::abs(double(ref.naive[at]) - ref.out[at]));
          max_ref = std::max(max_ref, std::abs(ref.out[at]));
        }
        if (c.with_lse) {
          if (sees_nothing) {
            EXPECT_EQ(lse[row], -std::numeric_limits<float>::infinity()) << "lse row " << row;
          } else {
            EXPECT_NEAR(lse[row], ref.lse[row], 1e-3) << "lse row " << row;
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
  // Nothing was written outside the output elements: not before the first
  // one (pointer_offset) and not into the padding between rows.
  const std::size_t untouched_words = std::size_t(off + out_n) - std::size_t(rows) * c.head_dim;
  EXPECT_EQ(count_poisoned_host(out_buffer.data(), (off + out_n) * 2), untouched_words);
}

// Fresh random inputs and the CPU references for one case, then every
// implementation in `impls` against them.
void run_case(const Case& c, std::mt19937& rng, const std::vector<AttentionImpl>& impls) {
  SCOPED_TRACE(describe(c));
  AttentionParams p;
  p.batch = c.batch;
  p.q_heads = c.q_heads;
  p.kv_heads = c.kv_heads;
  p.q_len = c.q_len;
  p.kv_len = c.kv_len;
  p.head_dim = c.head_dim;
  p.softmax_scale = c.scale != 0.0f ? c.scale : 1.0f / std::sqrt(float(c.head_dim));
  p.causal = c.causal;
  p.dtype = c.dtype;
  p.q_strides = strides_for(c.layout, c.q_heads, c.q_len, c.head_dim);
  p.out_strides = strides_for(c.out_layout.value_or(c.layout), c.q_heads, c.q_len, c.head_dim);
  p.k_strides = p.v_strides = strides_for(c.layout, c.kv_heads, c.kv_len, c.head_dim);
  const int64_t q_n = extent(p.q_strides, c.batch, c.q_heads, c.q_len, c.head_dim);
  const int64_t kv_n = extent(p.k_strides, c.batch, c.kv_heads, c.kv_len, c.head_dim);
  const int64_t out_n = extent(p.out_strides, c.batch, c.q_heads, c.q_len, c.head_dim);
  const int64_t rows = int64_t{c.batch} * c.q_heads * c.q_len;

  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto random_bits = [&](int64_t n) {
    std::vector<uint16_t> t(n);
    for (auto& x : t) x = to_bits(normal(rng), c.dtype);
    return t;
  };
  const auto q = random_bits(q_n), k = random_bits(kv_n), v = random_bits(kv_n);

  AttentionParams hp = p;
  hp.q = q.data();
  hp.k = k.data();
  hp.v = v.data();
  std::vector<float> ref(out_n, 0.0f), ref_lse(rows), naive(out_n, 0.0f);
  attention_reference_f32(hp, ref.data(), ref_lse.data());
  naive_low_precision(hp, naive);

  for (AttentionImpl impl : impls) {
    if (impl == AttentionImpl::kPrefillSm90) {
      if (!sm90_runs_here()) continue;
      // TMA needs 16-byte aligned q/k/v with strides that are multiples of
      // 8 elements: rows of head_dim + 3 or pointers shifted off 16 bytes
      // are refused, never run wrong.
      if (c.layout == Layout::kPaddedRows || c.pointer_offset % 8 != 0) {
        SCOPED_TRACE(to_string(impl));
        EXPECT_THROW(check_impl(c, p, impl, Inputs{q, k, v}, References{ref, ref_lse, naive}), std::invalid_argument);
        continue;
      }
    }
    check_impl(c, p, impl, Inputs{q, k, v}, References{ref, ref_lse, naive});
  }
}

// Every dtype x head_dim combination of the given shapes, each through
// every prefill implementation.
void run_all(std::vector<Case> shapes) {
  std::mt19937 rng(std::random_device{}());
  for (AttentionDType dtype : {kF16, kBF16})
    for (int head_dim : {64, 128})
      for (Case c : shapes) {
        c.dtype = dtype;
        c.head_dim = head_dim;
        run_case(c, rng, kPrefillImpls);
      }
}

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

// Odd lengths around the mma kernel's tiles (128 queries x 64 keys) and the
// wmma kernel's (64 x 64): partial first/last tiles, several query tiles,
// the causal diagonal crossing tile borders, q_len != kv_len both ways.
TEST(AttentionGpu, OddLengthsAroundTileBorders) {
  SKIP_WITHOUT_GPU();
  std::vector<Case> shapes;
  for (int len : {1, 17, 63, 65, 127, 129, 1000}) {
    for (bool causal : {false, true}) shapes.push_back({kF16, 0, 1, 2, 2, len, len, causal});
  }
  const std::pair<int, int> q_kv[] = {{17, 129}, {129, 17}, {65, 1000}, {1000, 65}, {63, 127}, {127, 63}, {129, 257}};
  for (auto [q_len, kv_len] : q_kv) {
    for (bool causal : {false, true}) shapes.push_back({kF16, 0, 1, 2, 2, q_len, kv_len, causal});
  }
  run_all(shapes);
}

TEST(AttentionGpu, GroupedAndMultiQueryAcrossTiles) {
  SKIP_WITHOUT_GPU();
  run_all({
      {kF16, 0, 2, 8, 2, 300, 300, true},   // GQA, 3 query tiles, causal diagonal in each
      {kF16, 0, 1, 6, 1, 257, 511, true},   // MQA, bottom-right causal with kv_len > q_len
      {kF16, 0, 1, 6, 3, 200, 129, false},  // GQA, kv tail tile of one key
      {kF16, 0, 2, 4, 1, 1, 777, false},    // MQA decode-like
      {kF16, 0, 1, 4, 2, 190, 64, true},    // q_len > kv_len: the first 126 queries see no key
  });
}

// Both load/store paths of the mma kernel: 16-byte cp.async and stores when
// pointers and strides allow, scalar ones when not, chosen separately for
// q/k/v and for out.
TEST(AttentionGpu, LayoutsAlignedAndUnaligned) {
  SKIP_WITHOUT_GPU();
  run_all({
      {kF16, 0, 2, 4, 2, 129, 200, true, Layout::kBSHD},
      {kF16, 0, 1, 4, 4, 150, 150, false, Layout::kPaddedAligned},
      {kF16, 0, 1, 4, 2, 200, 130, true, Layout::kPaddedRows},
      {kF16, 0, 2, 2, 2, 65, 65, true, Layout::kBHSD, true, Layout::kBSHD},          // out in another layout
      {kF16, 0, 1, 2, 1, 100, 170, false, Layout::kBHSD, true, Layout::kPaddedRows}, // aligned in, unaligned out
      {kF16, 0, 1, 2, 2, 100, 170, true, Layout::kPaddedRows, true, Layout::kBHSD},  // unaligned in, aligned out
      {kF16, 0, 1, 2, 2, 77, 140, true, Layout::kBHSD, true, std::nullopt, 1},       // pointers 2-byte aligned
      {kF16, 0, 1, 2, 2, 77, 140, false, Layout::kBSHD, false, std::nullopt, 4},     // pointers 8-byte aligned
  });
}

// Large and negative softmax scales: the running max moves a lot between
// key tiles (the O rescale path), and with a negative scale the smallest dot
// product is the largest score.
TEST(AttentionGpu, LargeAndNegativeScales) {
  SKIP_WITHOUT_GPU();
  run_all({
      {kF16, 0, 1, 2, 2, 300, 300, false, Layout::kBHSD, true, std::nullopt, 0, 1.0f},
      {kF16, 0, 1, 2, 2, 300, 300, true, Layout::kBHSD, true, std::nullopt, 0, 0.5f},
      {kF16, 0, 1, 2, 2, 150, 200, true, Layout::kBHSD, true, std::nullopt, 0, -0.1f},
  });
}

TEST(AttentionGpu, RejectsUnsupportedParameters) {
  SKIP_WITHOUT_GPU();
  DeviceBuffer buffer(1 << 16);
  for (AttentionImpl impl : kPrefillImpls) {
    SCOPED_TRACE(to_string(impl));
    AttentionParams p;
    p.impl = impl;
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
}

// Many heads: the mma kernel orders its blocks in chunks of whole GQA groups
// sized from the device's SM count under the causal mask (one group per
// chunk without it). On an H100 (132 SMs, 2 blocks each at hdim 128) these
// 201 groups of 3 q heads with 2 query tiles make two chunks of unequal size
// (101 and 100 groups). Every (head, query tile) must still run exactly once:
// a missed one leaves poisoned output, a mixed-up head wrong values.
TEST(AttentionGpu, MmaBlockOrderWithManyHeads) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(std::random_device{}());
  for (AttentionDType dtype : {kF16, kBF16})
    for (bool causal : {true, false}) {
      run_case({dtype, 128, 1, 603, 201, 129, 129, causal}, rng, {AttentionImpl::kPrefillMma});
    }
}

// The mma kernel's grid runs query tiles along y (at most 65535 of 128
// rows); a longer q_len is refused before anything launches (the buffers
// are far too small for it, which is fine as nothing reads them).
TEST(AttentionGpu, MmaRefusesQueryLengthsPastTheGrid) {
  SKIP_WITHOUT_GPU();
  DeviceBuffer buffer(1 << 16);
  AttentionParams p;
  p.impl = AttentionImpl::kPrefillMma;
  p.q = p.k = p.v = p.out = buffer.ptr;
  p.batch = p.q_heads = p.kv_heads = 1;
  p.q_len = 65535 * 128 + 1;
  p.kv_len = 4;
  p.head_dim = 64;
  p.q_strides = p.out_strides = bhsd_strides(1, p.q_len, 64);
  p.k_strides = p.v_strides = bhsd_strides(1, 4, 64);
  p.softmax_scale = 0.125f;
  EXPECT_THROW(attention_forward(p, nullptr), std::invalid_argument);
}

// The Hopper kernel's block order and its 128 x 128 tiles with many heads
// and several query tiles (heaviest first in chunks under the causal mask,
// one head's tiles together without it): every (head, query tile) must run
// exactly once, with the right K/V head (GQA).
TEST(AttentionGpu, Sm90ManyHeadsAndTiles) {
  SKIP_WITHOUT_GPU();
  if (!sm90_runs_here()) GTEST_SKIP() << "prefill-sm90: " << sm90_unavailable_reason();
  std::mt19937 rng(std::random_device{}());
  for (AttentionDType dtype : {kF16, kBF16})
    for (int head_dim : {64, 128})
      for (bool causal : {true, false}) {
        // 140 (batch x head) rows of 2 query tiles: on an H100 (132 SMs) the
        // causal order makes chunks of 132 and 8 rows.
        run_case({dtype, head_dim, 2, 70, 14, 129, 129, causal}, rng, {AttentionImpl::kPrefillSm90});
        run_case({dtype, head_dim, 1, 4, 2, 1100, 1300, causal, Layout::kBSHD}, rng, {AttentionImpl::kPrefillSm90});
      }
}

// A forced kPrefillSm90 on tensors TMA cannot describe throws
// std::invalid_argument naming the problem, before anything launches.
TEST(AttentionGpu, Sm90RefusesStridesTmaCannotDescribe) {
  SKIP_WITHOUT_GPU();
  if (!sm90_runs_here()) GTEST_SKIP() << "prefill-sm90: " << sm90_unavailable_reason();
  DeviceBuffer buffer(1 << 20);
  AttentionParams p;
  p.impl = AttentionImpl::kPrefillSm90;
  MLOPT_CUDA_CHECK(cudaMemset(buffer.ptr, 0, buffer.bytes));
  p.q = p.k = p.v = buffer.ptr;
  p.out = static_cast<unsigned char*>(buffer.ptr) + (1 << 19);  // apart from the inputs
  p.batch = 1;
  p.q_heads = p.kv_heads = 2;
  p.q_len = p.kv_len = 100;
  p.head_dim = 64;
  p.softmax_scale = 0.125f;
  p.q_strides = p.k_strides = p.v_strides = p.out_strides = bhsd_strides(2, 100, 64);
  p.k_strides.row = 68;  // 136-byte rows: not a multiple of 16 bytes
  p.k_strides.head = 100 * 68;
  p.k_strides.batch = 2 * 100 * 68;
  try {
    attention_forward(p, nullptr);
    ADD_FAILURE() << "a k row stride of 68 elements was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("stride"), std::string::npos) << e.what();
  }
  // A base pointer 2 bytes off 16-byte alignment.
  p.k_strides = bhsd_strides(2, 100, 64);
  p.v = static_cast<uint16_t*>(buffer.ptr) + 1;
  try {
    attention_forward(p, nullptr);
    ADD_FAILURE() << "a v pointer 2 bytes off 16-byte alignment was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("aligned"), std::string::npos) << e.what();
  }
  // kAuto takes the mma.sync kernel for the same call instead of failing
  // (the output is not checked here: the buffers hold no meaningful data).
  p.impl = AttentionImpl::kAuto;
  EXPECT_NO_THROW(attention_forward(p, nullptr));
  MLOPT_CUDA_CHECK(cudaDeviceSynchronize());
}
