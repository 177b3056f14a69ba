// The split-KV (flash-decoding) attention path against the CPU reference
// (ctest -L gpu). Every case forces or auto-picks a number of splits, runs
// on fresh random inputs with the output, lse and workspace poisoned (NaN
// bits) before the run, and checks against attention_reference_f32 with the
// tolerance of attention_test_support.h. Poisoning the workspace checks that
// every partial the combine kernel reads was written (empty splits too).
//
// Under compute-sanitizer, run the small list alone:
//   compute-sanitizer --tool memcheck <build>/tests/kernels/mlopt_attention_decode_gpu_tests
//       --gtest_filter='AttentionDecodeGpu.SanitizerSmallCases'
// (likewise --tool racecheck, synccheck, initcheck).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "attention_test_support.h"
#include "mlopt/kernels/attention.h"
#include "mlopt/kernels/cuda_check.h"
#include "mlopt/kernels/cuda_event.h"
#include "mlopt/kernels/device_query.h"
#include "mlopt/kernels/half_bits.h"
#include "mlopt/kernels/poison.h"

using namespace mlopt::kernels;
using namespace mlopt::kernels::attention_test;

namespace {

constexpr auto kF16 = AttentionDType::kFloat16;
constexpr auto kBF16 = AttentionDType::kBFloat16;
constexpr auto kDecode = AttentionImpl::kDecodeSplitKv;

// kPaddedRows: BHSD with row stride head_dim + 3 (rows not 16-byte aligned: scalar loads).
enum class Layout { kBHSD, kBSHD, kPaddedRows };

// What workspace the call gets: what attention_workspace_bytes asks for;
// none (one split, written directly); or room for two splits only.
enum class Workspace { kAsked, kNone, kTwoSplits };

struct Case {
  AttentionDType dtype;
  int head_dim;
  int batch, q_heads, kv_heads, q_len, kv_len;
  bool causal;
  int num_splits = 0;  // 0: auto
  Layout layout = Layout::kBHSD;
  bool with_lse = true;
  Workspace workspace = Workspace::kAsked;
  AttentionImpl impl = kDecode;
};

std::string describe(const Case& c) {
  const char* layouts[] = {"BHSD", "BSHD", "padded rows"};
  const char* workspaces[] = {"", " no workspace", " workspace for 2 splits"};
  return std::string(to_string(c.dtype)) + " d" + std::to_string(c.head_dim) + " b" + std::to_string(c.batch) +
         " h" + std::to_string(c.q_heads) + "/" + std::to_string(c.kv_heads) + " q" + std::to_string(c.q_len) +
         " kv" + std::to_string(c.kv_len) + (c.causal ? " causal " : " ") + layouts[int(c.layout)] + " splits " +
         (c.num_splits == 0 ? std::string("auto") : std::to_string(c.num_splits)) + workspaces[int(c.workspace)] +
         (c.with_lse ? "" : " no-lse") + " " + to_string(c.impl);
}

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

// The workspace layout attention_split_plan.h documents: per split, fp32
// partial O [rows][head_dim] and partial lse [rows].
std::size_t documented_workspace_bytes(int splits, int64_t rows, int head_dim) {
  return splits <= 1 ? 0 : std::size_t(splits) * std::size_t(rows) * (std::size_t(head_dim) + 1) * sizeof(float);
}

AttentionParams params_for(const Case& c) {
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
  p.impl = c.impl;
  p.num_splits = c.num_splits;
  return p;
}

struct HostInputs {
  std::vector<uint16_t> q, k, v;
};

HostInputs random_inputs(const Case& c, const AttentionParams& p, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto random_bits = [&](int64_t n) {
    std::vector<uint16_t> t(n);
    for (auto& x : t) x = to_bits(normal(rng), c.dtype);
    return t;
  };
  const int64_t q_n = extent(p.q_strides, c.batch, c.q_heads, c.q_len, c.head_dim);
  const int64_t kv_n = extent(p.k_strides, c.batch, c.kv_heads, c.kv_len, c.head_dim);
  HostInputs in;
  in.q = random_bits(q_n);
  in.k = random_bits(kv_n);
  in.v = random_bits(kv_n);
  return in;
}

struct GpuResult {
  std::vector<uint16_t> out;  // the whole out buffer, padding included
  std::vector<float> lse;
};

// One attention_forward on the GPU with poisoned out / lse / workspace.
GpuResult run_gpu(const Case& c, const AttentionParams& p, const HostInputs& in) {
  const int64_t q_n = static_cast<int64_t>(in.q.size());
  const int64_t kv_n = static_cast<int64_t>(in.k.size());
  const int64_t rows = int64_t{c.batch} * c.q_heads * c.q_len;
  DeviceBuffer dq(q_n * 2), dk(kv_n * 2), dv(kv_n * 2), dout(q_n * 2), dlse(rows * 4);
  MLOPT_CUDA_CHECK(cudaMemcpy(dq.ptr, in.q.data(), q_n * 2, cudaMemcpyHostToDevice));
  MLOPT_CUDA_CHECK(cudaMemcpy(dk.ptr, in.k.data(), kv_n * 2, cudaMemcpyHostToDevice));
  MLOPT_CUDA_CHECK(cudaMemcpy(dv.ptr, in.v.data(), kv_n * 2, cudaMemcpyHostToDevice));
  // A pageable-memory cudaMemcpy may return before its DMA lands, and the
  // non-blocking stream below does not order after the legacy stream.
  MLOPT_CUDA_CHECK(cudaDeviceSynchronize());

  AttentionParams dp = p;
  dp.q = dq.ptr;
  dp.k = dk.ptr;
  dp.v = dv.ptr;
  dp.out = dout.ptr;
  dp.lse = c.with_lse ? static_cast<float*>(dlse.ptr) : nullptr;

  const std::size_t asked = attention_workspace_bytes(dp);
  if (c.impl == kDecode && c.num_splits > 0) {
    // A forced split count sizes the workspace exactly as documented.
    EXPECT_EQ(asked, documented_workspace_bytes(c.num_splits, rows, c.head_dim));
  }
  std::size_t given = 0;
  switch (c.workspace) {
    case Workspace::kAsked: given = asked; break;
    case Workspace::kNone: given = 0; break;
    case Workspace::kTwoSplits: given = std::min(asked, documented_workspace_bytes(2, rows, c.head_dim) + 12); break;
  }
  DeviceBuffer workspace(given);

  CudaStream stream;
  poison_device(dout.ptr, dout.bytes, stream.get());
  poison_device(dlse.ptr, dlse.bytes, stream.get());
  if (given > 0) poison_device(workspace.ptr, given - given % 2, stream.get());
  attention_forward(dp, stream.get(), workspace.ptr, given);
  stream.synchronize();

  GpuResult r;
  r.out.resize(q_n);
  r.lse.resize(rows);
  MLOPT_CUDA_CHECK(cudaMemcpy(r.out.data(), dout.ptr, q_n * 2, cudaMemcpyDeviceToHost));
  MLOPT_CUDA_CHECK(cudaMemcpy(r.lse.data(), dlse.ptr, rows * 4, cudaMemcpyDeviceToHost));
  return r;
}

// Checks a GPU result against the CPU reference and the naive error.
void check_against_reference(const Case& c, const AttentionParams& p, const HostInputs& in, const GpuResult& r) {
  const int64_t q_n = static_cast<int64_t>(in.q.size());
  const int64_t rows = int64_t{c.batch} * c.q_heads * c.q_len;
  AttentionParams hp = p;
  hp.q = in.q.data();
  hp.k = in.k.data();
  hp.v = in.v.data();
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
          const float ours = to_float(r.out[at], c.dtype);
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
            EXPECT_EQ(r.lse[row], -std::numeric_limits<float>::infinity()) << "lse row " << row;
          } else {
            EXPECT_NEAR(r.lse[row], ref_lse[row], 1e-3) << "lse row " << row;
          }
        }
      }
  EXPECT_EQ(bad, 0) << "of " << written << " output elements";
  const double margin = ulp_at(max_ref, c.dtype);
  EXPECT_LE(ours_err, naive_err + margin) << "max error ours " << ours_err << ", naive " << to_string(c.dtype)
                                          << " attention " << naive_err << ", margin " << margin;
  if (!c.with_lse) {
    // lse == nullptr: the lse buffer was left poisoned.
    EXPECT_EQ(count_poisoned_host(r.lse.data(), rows * 4), std::size_t(rows) * 2);
  }
  // Nothing was written outside the output elements (the padding between rows).
  EXPECT_EQ(count_poisoned_host(r.out.data(), q_n * 2), std::size_t(q_n) - std::size_t(rows) * c.head_dim);
}

GpuResult run_case(const Case& c, std::mt19937& rng) {
  SCOPED_TRACE(describe(c));
  const AttentionParams p = params_for(c);
  const HostInputs in = random_inputs(c, p, rng);
  GpuResult r = run_gpu(c, p, in);
  check_against_reference(c, p, in, r);
  return r;
}

// Every dtype x head_dim combination of the given shapes.
void run_all(const std::vector<Case>& shapes) {
  std::mt19937 rng(std::random_device{}());
  for (AttentionDType dtype : {kF16, kBF16})
    for (int head_dim : {64, 128})
      for (Case c : shapes) {
        c.dtype = dtype;
        c.head_dim = head_dim;
        run_case(c, rng);
      }
}

}  // namespace

// One query row (MHA decode) over short, odd and long KV lengths, with every
// split count: none, a few, more splits than keys (empty splits), and auto.
TEST(AttentionDecodeGpu, SplitCountsAndLengths) {
  SKIP_WITHOUT_GPU();
  std::vector<Case> shapes;
  for (int kv_len : {1, 7, 100, 1000}) {
    for (int splits : {1, 2, 3, 7, 64, 0}) shapes.push_back({kF16, 0, 2, 2, 2, 1, kv_len, false, splits});
  }
  for (int kv_len : {4099, 8192}) {
    for (int splits : {1, 3, 0}) shapes.push_back({kF16, 0, 1, 2, 2, 1, kv_len, false, splits});
  }
  run_all(shapes);
}

// One block serves all q heads of a kv head (and all their query rows):
// GQA and MQA groups of 2..64 rows (4 row tiles at 64).
TEST(AttentionDecodeGpu, GroupedAndMultiQuery) {
  SKIP_WITHOUT_GPU();
  run_all({
      {kF16, 0, 2, 8, 2, 1, 1000, false, 3},   // GQA, 4 rows per group
      {kF16, 0, 1, 8, 2, 2, 4099, true, 0},    // GQA, 8 rows, causal, auto splits
      {kF16, 0, 1, 8, 2, 4, 777, true, 7},     // GQA, 16 rows: one full row tile
      {kF16, 0, 2, 4, 1, 1, 4099, false, 0},   // MQA
      {kF16, 0, 1, 4, 1, 4, 300, true, 2},     // MQA, 16 rows
      {kF16, 0, 1, 2, 1, 8, 1000, true, 3},    // MQA, q_len 8: 16 rows
      {kF16, 0, 1, 8, 1, 8, 500, true, 3},     // MQA, q_len 8: 64 rows, 4 row tiles
      {kF16, 0, 1, 6, 1, 5, 200, false, 2},    // 30 rows: a partial second row tile
      {kF16, 0, 1, 12, 4, 2, 8192, false, 0},  // GQA 3 heads per group, long KV, auto
  });
}

// Bottom-right causal masking with several query rows per block: rows see
// different key counts, a split can hold keys that only some rows see, and
// with q_len > kv_len the first rows see nothing (zeros, lse -inf).
TEST(AttentionDecodeGpu, CausalRowsSeeDifferentKeys) {
  SKIP_WITHOUT_GPU();
  run_all({
      {kF16, 0, 2, 2, 2, 2, 7, true, 3},
      {kF16, 0, 1, 4, 4, 4, 100, true, 7},
      {kF16, 0, 1, 4, 2, 8, 5, true, 3},    // q_len > kv_len: queries 0..2 see no key
      {kF16, 0, 1, 2, 2, 8, 1, true, 64},   // one key, seen by the last query only
      {kF16, 0, 1, 2, 1, 4, 65, true, 1},   // one split, key tile border
      {kF16, 0, 1, 2, 2, 16, 70, true, 2},  // MHA, q_len 16 (the auto-dispatch limit)
  });
}

// Strided layouts (BSHD), rows that are not 16-byte aligned (scalar loads),
// and the optional lse, with and without splits.
TEST(AttentionDecodeGpu, LayoutsAndOptionalLse) {
  SKIP_WITHOUT_GPU();
  run_all({
      {kF16, 0, 2, 4, 2, 2, 150, true, 3, Layout::kBSHD},
      {kF16, 0, 2, 4, 4, 1, 300, false, 1, Layout::kBSHD},
      {kF16, 0, 2, 4, 2, 2, 300, true, 3, Layout::kPaddedRows},
      {kF16, 0, 1, 2, 2, 1, 77, false, 1, Layout::kPaddedRows},
      {kF16, 0, 1, 2, 2, 1, 500, false, 3, Layout::kBHSD, /*with_lse=*/false},
      {kF16, 0, 1, 2, 2, 3, 500, true, 1, Layout::kBHSD, /*with_lse=*/false},
  });
}

// Less workspace than asked for: fewer splits (two, or one without any),
// still the right answer.
TEST(AttentionDecodeGpu, ShortOrMissingWorkspaceStaysCorrect) {
  SKIP_WITHOUT_GPU();
  run_all({
      {kF16, 0, 1, 2, 2, 1, 1000, false, 7, Layout::kBHSD, true, Workspace::kTwoSplits},
      {kF16, 0, 1, 4, 2, 2, 4099, true, 0, Layout::kBHSD, true, Workspace::kTwoSplits},
      {kF16, 0, 1, 2, 2, 1, 1000, false, 7, Layout::kBHSD, true, Workspace::kNone},
      {kF16, 0, 1, 2, 2, 3, 4099, true, 0, Layout::kBHSD, true, Workspace::kNone},
  });
}

// kAuto takes the decode path for one query row over a long KV cache (the
// only path that asks for a workspace), and gives bit for bit what forcing
// the decode path gives; many query rows go to the prefill kernel.
TEST(AttentionDecodeGpu, AutoDispatchPicksDecodeForOneQueryRow) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(std::random_device{}());
  for (AttentionDType dtype : {kF16, kBF16})
    for (int head_dim : {64, 128}) {
      Case forced{dtype, head_dim, 1, 4, 4, 1, 4099, false, 0};
      Case automatic = forced;
      automatic.impl = AttentionImpl::kAuto;
      SCOPED_TRACE(describe(automatic));
      const AttentionParams p = params_for(automatic);
      const HostInputs in = random_inputs(automatic, p, rng);
      AttentionParams with_pointers = p;
      uint16_t dummy = 0;  // attention_workspace_bytes validates the pointers but reads nothing
      with_pointers.q = with_pointers.k = with_pointers.v = with_pointers.out = &dummy;
      const std::size_t auto_bytes = attention_workspace_bytes(with_pointers);
      with_pointers.impl = kDecode;
      EXPECT_GT(auto_bytes, 0u) << "4 rows x 4099 keys should be split across blocks";
      EXPECT_EQ(auto_bytes, attention_workspace_bytes(with_pointers));

      const GpuResult a = run_gpu(automatic, p, in);
      check_against_reference(automatic, p, in, a);
      const GpuResult f = run_gpu(forced, params_for(forced), in);
      EXPECT_EQ(a.out, f.out) << "kAuto and kDecodeSplitKv differ";
      EXPECT_EQ(0, std::memcmp(a.lse.data(), f.lse.data(), a.lse.size() * sizeof(float)));
    }

  // q_len 65 (65 rows per group): the prefill kernel, which needs no workspace.
  DeviceBuffer buffer(64);
  AttentionParams p = params_for({kF16, 64, 1, 2, 2, 65, 4099, true, 0, Layout::kBHSD, true, Workspace::kAsked,
                                  AttentionImpl::kAuto});
  p.q = p.k = p.v = p.out = buffer.ptr;
  EXPECT_EQ(attention_workspace_bytes(p), 0u);
}

// Forcing the decode path with more query rows per kv-head group than it
// takes (64) is refused, naming the limit, before anything launches.
TEST(AttentionDecodeGpu, RejectsTooManyRowsWhenForced) {
  SKIP_WITHOUT_GPU();
  DeviceBuffer buffer(1 << 16);
  for (auto [q_heads, kv_heads, q_len] : {std::tuple{2, 2, 65}, std::tuple{8, 1, 9}, std::tuple{16, 2, 9}}) {
    SCOPED_TRACE("h" + std::to_string(q_heads) + "/" + std::to_string(kv_heads) + " q" + std::to_string(q_len));
    AttentionParams p = params_for({kF16, 64, 1, q_heads, kv_heads, q_len, 16, false, 0});
    p.q = p.k = p.v = p.out = buffer.ptr;
    try {
      attention_forward(p, nullptr);
      ADD_FAILURE() << "expected std::invalid_argument";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("64"), std::string::npos) << e.what();
    }
    EXPECT_THROW(attention_workspace_bytes(p), std::invalid_argument);
  }
  // 64 rows is accepted.
  AttentionParams p = params_for({kF16, 64, 1, 8, 1, 8, 16, false, 0});
  p.q = p.k = p.v = p.out = buffer.ptr;
  EXPECT_NO_THROW(attention_workspace_bytes(p));
}

// A few tiny cases covering every code path (splits and none, empty splits,
// causal rows that see nothing, row tiles, scalar loads, no lse, a short
// workspace) for compute-sanitizer runs (see the top of this file).
TEST(AttentionDecodeGpu, SanitizerSmallCases) {
  SKIP_WITHOUT_GPU();
  run_all({
      {kF16, 0, 1, 2, 2, 1, 7, false, 1},
      {kF16, 0, 1, 2, 1, 2, 70, true, 3},
      {kF16, 0, 1, 2, 2, 4, 3, true, 64},
      {kF16, 0, 1, 6, 1, 4, 100, true, 2},
      {kF16, 0, 1, 2, 2, 2, 130, true, 3, Layout::kPaddedRows, false},
      {kF16, 0, 1, 2, 2, 1, 300, false, 7, Layout::kBSHD, true, Workspace::kTwoSplits},
  });
}
