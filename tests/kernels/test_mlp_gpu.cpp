// The GPU MLP block against the CPU reference (ctest -L gpu), for every
// activation x weight layout x dtype x gated/plain x residual on/off, on
// each implementation (decode, fused, cuBLASLt, and the Hopper sm90 path
// where the GPU is compute capability 9.0), at token counts from 1 to 16384
// and sizes that are not tile multiples.
//
// Tolerance. The reference sums in double from the same fp16/bf16 inputs
// and rounds h to the dtype, as the GPU stores it. The GPU's error comes
// from fp32 sums in another order and from h landing on the other side of a
// rounding boundary now and then. An unfused MLP in the same dtype (each
// step rounded to the dtype as PyTorch stores it: the projection with its
// bias, the activation, the gated product, the down projection with its
// bias, the residual add; sums in fp32) has those errors and more. So each
// case computes that unfused error too and requires
//   max |ours - ref| <= max |unfused - ref| + one ulp of the dtype at max |ref|
// (the margin covers elements that land on the other side of the output's
// rounding). Outputs and the workspace are poisoned (NaN) before each run, so
// an element the kernels never wrote (of h too) shows up as non-finite.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mlopt/kernels/cuda_check.h"
#include "mlopt/kernels/cuda_event.h"
#include "mlopt/kernels/device_query.h"
#include "mlopt/kernels/half_bits.h"
#include "mlopt/kernels/mlp.h"
#include "mlopt/kernels/poison.h"
#include "mlp_dispatch.h"  // internal: decode_force (the decode down projection's variants)
#include "mlp_sm90.h"     // internal: the Hopper path's configurations (Sm90GemmConfig)

using namespace mlopt::kernels;

namespace {

constexpr auto kF16 = MlpDType::kFloat16;
constexpr auto kBF16 = MlpDType::kBFloat16;

struct Case {
  MlpDType dtype = kF16;
  Activation activation = Activation::kGeluTanh;
  WeightLayout layout = WeightLayout::kOutIn;
  bool gated = false;
  GateUpPacking packing = GateUpPacking::kConcatenated;
  bool bias = true;
  bool residual = false;
  int tokens = 1, d_model = 200, d_ff = 520;
  MlpImpl impl = MlpImpl::kAuto;
  int num_splits = 0;
  int row_block = 0;               // MlpParams::row_block (0: the default)
  bool residual_in_place = false;  // residual and out are one buffer
  bool graph = false;              // captured into a CUDA graph, which is launched twice
  RowBlockOverlap overlap = RowBlockOverlap::kAuto;
};

std::string describe(const Case& c) {
  return std::string(to_string(c.dtype)) + " " + to_string(c.activation) + (c.gated ? " gated " : " plain ") +
         (c.gated ? std::string(to_string(c.packing)) + " " : "") + to_string(c.layout) +
         (c.bias ? " bias" : " no-bias") + (c.residual ? (c.residual_in_place ? " residual(in place)" : " residual") : "") +
         " tokens " + std::to_string(c.tokens) + " d " + std::to_string(c.d_model) + " ff " + std::to_string(c.d_ff) +
         " impl " + to_string(c.impl) + (c.num_splits ? " splits " + std::to_string(c.num_splits) : "") +
         (c.row_block ? " row block " + std::to_string(c.row_block) : "") +
         (c.overlap != RowBlockOverlap::kAuto ? std::string(" overlap ") + to_string(c.overlap) : "") +
         (c.graph ? " in a CUDA graph" : "");
}

float to_float(uint16_t bits, MlpDType dtype) { return dtype == kF16 ? half_bits_to_float(bits) : bf16_bits_to_float(bits); }
uint16_t to_bits(float x, MlpDType dtype) { return dtype == kF16 ? float_to_half_bits(x) : float_to_bf16_bits(x); }
float round_to(float x, MlpDType dtype) { return to_float(to_bits(x, dtype), dtype); }

float activate(float x, Activation a) { return static_cast<float>(apply_activation(x, a)); }

struct DeviceBuffer {
  void* ptr = nullptr;
  std::size_t bytes = 0;
  explicit DeviceBuffer(std::size_t n) : bytes(n) { MLOPT_CUDA_CHECK(cudaMalloc(&ptr, std::max<std::size_t>(n, 16))); }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

void upload(DeviceBuffer& d, const std::vector<uint16_t>& h) {
  MLOPT_CUDA_CHECK(cudaMemcpy(d.ptr, h.data(), h.size() * 2, cudaMemcpyHostToDevice));
}

// A weight as [out][in] floats.
std::vector<float> out_in(const std::vector<uint16_t>& w, int64_t out, int64_t in, WeightLayout layout, MlpDType dt) {
  std::vector<float> m(static_cast<std::size_t>(out * in));
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i)
      m[std::size_t(o * in + i)] = to_float(w[std::size_t(layout == WeightLayout::kOutIn ? o * in + i : i * out + o)], dt);
  return m;
}

struct Host {
  std::vector<uint16_t> x, w_up, b_up, w_down, b_down, residual;
};

// The unfused MLP in the dtype (see the tolerance note), as floats.
std::vector<float> unfused_low_precision(const Case& c, const Host& h) {
  const int64_t d = c.d_model, f = c.d_ff, n_up = c.gated ? 2 * f : f;
  const auto w_up = out_in(h.w_up, n_up, d, c.layout, c.dtype);
  const auto w_down = out_in(h.w_down, d, f, c.layout, c.dtype);
  std::vector<float> out(static_cast<std::size_t>(c.tokens * d)), x(static_cast<std::size_t>(d)),
      pre(static_cast<std::size_t>(n_up)), hid(static_cast<std::size_t>(f));
  const bool interleaved = c.packing == GateUpPacking::kInterleaved;
  for (int64_t t = 0; t < c.tokens; ++t) {
    for (int64_t i = 0; i < d; ++i) x[i] = to_float(h.x[std::size_t(t * d + i)], c.dtype);
    for (int64_t o = 0; o < n_up; ++o) {
      float acc = 0.0f;
      for (int64_t i = 0; i < d; ++i) acc += x[i] * w_up[std::size_t(o * d + i)];
      if (c.bias) acc += to_float(h.b_up[o], c.dtype);
      pre[o] = round_to(acc, c.dtype);
    }
    for (int64_t j = 0; j < f; ++j) {
      if (c.gated) {
        const float gate = pre[interleaved ? 2 * j : j], up = pre[interleaved ? 2 * j + 1 : f + j];
        hid[j] = round_to(round_to(activate(gate, c.activation), c.dtype) * up, c.dtype);
      } else {
        hid[j] = round_to(activate(pre[j], c.activation), c.dtype);
      }
    }
    for (int64_t o = 0; o < d; ++o) {
      float acc = 0.0f;
      for (int64_t j = 0; j < f; ++j) acc += hid[j] * w_down[std::size_t(o * f + j)];
      if (c.bias) acc += to_float(h.b_down[o], c.dtype);
      float y = round_to(acc, c.dtype);
      if (c.residual) y = round_to(y + to_float(h.residual[std::size_t(t * d + o)], c.dtype), c.dtype);
      out[std::size_t(t * d + o)] = y;
    }
  }
  return out;
}

float ulp_at(float magnitude, MlpDType dtype) {
  const int mantissa_bits = dtype == kF16 ? 10 : 7;
  int exponent = 0;
  std::frexp(std::max(magnitude, 1e-3f), &exponent);  // magnitude in [2^(e-1), 2^e)
  return std::ldexp(1.0f, exponent - 1 - mantissa_bits);
}

// The case's sizes and choices, with no pointers set.
MlpParams params_of(const Case& c) {
  MlpParams p;
  p.tokens = c.tokens;
  p.d_model = c.d_model;
  p.d_ff = c.d_ff;
  p.activation = c.activation;
  p.gated = c.gated;
  p.gate_up = c.packing;
  p.layout = c.layout;
  p.dtype = c.dtype;
  p.impl = c.impl;
  p.num_splits = c.num_splits;
  p.row_block = c.row_block;
  p.overlap = c.overlap;
  return p;
}

// Fresh random inputs for a case. Pre-activations ~ N(0, 1.25), h ~ O(1),
// outputs ~ O(1).
Host random_host(const Case& c, std::mt19937& rng) {
  const int64_t d = c.d_model, f = c.d_ff, n_up = c.gated ? 2 * f : f, tokens = c.tokens;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto random_bits = [&](int64_t n, float scale) {
    std::vector<uint16_t> v(static_cast<std::size_t>(n));
    for (auto& e : v) e = to_bits(normal(rng) * scale, c.dtype);
    return v;
  };
  Host h;
  h.x = random_bits(tokens * d, 1.0f);
  h.w_up = random_bits(n_up * d, 1.0f / std::sqrt(float(d)));
  h.b_up = random_bits(n_up, 0.5f);
  h.w_down = random_bits(d * f, 1.0f / std::sqrt(float(f)));
  h.b_down = random_bits(d, 0.5f);
  h.residual = random_bits(tokens * d, 1.0f);
  return h;
}

// The GPU's `out` against the CPU reference of the case on `h`, within the
// tolerance the file's head explains.
void expect_matches_reference(const Case& c, const Host& h, const std::vector<uint16_t>& out) {
  const int64_t d = c.d_model;
  MlpParams hp = params_of(c);
  hp.x = h.x.data();
  hp.w_up = h.w_up.data();
  hp.b_up = c.bias ? h.b_up.data() : nullptr;
  hp.w_down = h.w_down.data();
  hp.b_down = c.bias ? h.b_down.data() : nullptr;
  hp.residual = c.residual ? h.residual.data() : nullptr;
  std::vector<float> ref(out.size());
  mlp_reference_f32(hp, ref.data());
  const auto unfused = unfused_low_precision(c, h);

  double ours_err = 0, unfused_err = 0;
  float max_ref = 0;
  int64_t bad = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const float ours = to_float(out[i], c.dtype);
    if (!std::isfinite(ours)) {
      if (bad++ < 5) ADD_FAILURE() << "out[token " << i / d << "][" << i % d << "] = " << ours;
      continue;
    }
    ours_err = std::max(ours_err, std::abs(double(ours) - ref[i]));
    unfused_err = std::max(unfused_err, std::abs(double(unfused[i]) - ref[i]));
    max_ref = std::max(max_ref, std::abs(ref[i]));
  }
  EXPECT_EQ(bad, 0) << "of " << out.size() << " output elements";
  const double margin = ulp_at(max_ref, c.dtype);
  EXPECT_LE(ours_err, unfused_err + margin) << "max error ours " << ours_err << ", unfused " << to_string(c.dtype)
                                            << " MLP " << unfused_err << ", margin " << margin;
  EXPECT_GT(max_ref, 0.1f);  // the data is not degenerate
}

// A case's inputs, copied to the device.
struct DeviceInputs {
  DeviceBuffer x, w_up, b_up, w_down, b_down, residual;
  explicit DeviceInputs(const Host& h)
      : x(h.x.size() * 2), w_up(h.w_up.size() * 2), b_up(h.b_up.size() * 2), w_down(h.w_down.size() * 2),
        b_down(h.b_down.size() * 2), residual(h.residual.size() * 2) {
    upload(x, h.x);
    upload(w_up, h.w_up);
    upload(b_up, h.b_up);
    upload(w_down, h.w_down);
    upload(b_down, h.b_down);
    upload(residual, h.residual);
  }
  // The case's params pointing at these weights (and biases, where the case has them).
  MlpParams params(const Case& c) const {
    MlpParams p = params_of(c);
    p.w_up = w_up.ptr;
    p.b_up = c.bias ? b_up.ptr : nullptr;
    p.w_down = w_down.ptr;
    p.b_down = c.bias ? b_down.ptr : nullptr;
    return p;
  }
};

void run_case(const Case& c, std::mt19937& rng) {
  SCOPED_TRACE(describe(c));
  const int64_t d = c.d_model, tokens = c.tokens;
  const Host h = random_host(c, rng);

  CudaStream stream;
  const DeviceInputs in(h);
  DeviceBuffer dout(std::size_t(tokens * d) * 2);
  MlpParams dp = in.params(c);
  dp.x = in.x.ptr;
  dp.out = dout.ptr;
  if (c.residual_in_place) {
    upload(dout, h.residual);
    dp.residual = dout.ptr;
  } else {
    dp.residual = c.residual ? in.residual.ptr : nullptr;
    poison_device(dout.ptr, dout.bytes, stream.get());
  }
  DeviceBuffer workspace(mlp_workspace_bytes(dp));
  poison_device(workspace.ptr, workspace.bytes, stream.get());
  if (c.graph) {
    // Twice: a replay must not depend on state the first one left behind.
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    MLOPT_CUDA_CHECK(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeThreadLocal));
    mlp_forward(dp, stream.get(), workspace.ptr, workspace.bytes);
    MLOPT_CUDA_CHECK(cudaStreamEndCapture(stream.get(), &graph));
    MLOPT_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    for (int i = 0; i < 2; ++i) MLOPT_CUDA_CHECK(cudaGraphLaunch(exec, stream.get()));
    stream.synchronize();
    MLOPT_CUDA_CHECK(cudaGraphExecDestroy(exec));
    MLOPT_CUDA_CHECK(cudaGraphDestroy(graph));
  } else {
    mlp_forward(dp, stream.get(), workspace.ptr, workspace.bytes);
  }
  stream.synchronize();
  std::vector<uint16_t> out(static_cast<std::size_t>(tokens * d));
  MLOPT_CUDA_CHECK(cudaMemcpy(out.data(), dout.ptr, out.size() * 2, cudaMemcpyDeviceToHost));
  expect_matches_reference(c, h, out);
}

#define SKIP_WITHOUT_GPU() \
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device"

const Activation kActivations[] = {Activation::kNone, Activation::kRelu, Activation::kGeluErf, Activation::kGeluTanh,
                                   Activation::kSilu};
const MlpImpl kImpls[] = {MlpImpl::kDecode, MlpImpl::kFused, MlpImpl::kCublasLt, MlpImpl::kSm90};

// Whether MlpImpl::kSm90 can run here: mlopt was built with it and the GPU
// (device 0, the one the tests use) is compute capability 9.0.
bool sm90_here() {
#ifdef MLOPT_KERNELS_HAVE_SM90
  if (device_count() == 0) return false;
  const DeviceProperties props = device_properties(0);
  return props.compute_major == 9 && props.compute_minor == 0;
#else
  return false;
#endif
}

// Whether MlpImpl::kDecode can run here: device 0 is compute capability 9.0
// or newer (thread-block clusters, programmatic dependent launch).
bool decode_here() {
  if (device_count() == 0) return false;
  return device_properties(0).compute_major >= 9;
}

const char* sm90_missing() {
#ifdef MLOPT_KERNELS_HAVE_SM90
  return "the GPU is not compute capability 9.0: the sm90 MLP path is not tested";
#else
  return "mlopt was built without the Hopper kernels: the sm90 MLP path is not tested";
#endif
}

}  // namespace

TEST(MlpGpu, EveryActivationLayoutDtypeResidualAndImplementation) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(std::random_device{}());
  // Token counts, the bias and the gate/up packing rotate over the
  // combinations (7 token counts against 4 implementations: each meets each).
  // kSm90 runs gated MLPs only with interleaved gate/up weights; it is left
  // out where it cannot run (MlpGpu.Sm90* say so).
  const int token_counts[] = {1, 3, 17, 64, 65, 129, 300};
  const bool sm90 = sm90_here();
  int combo = 0, run = 0;
  for (MlpDType dtype : {kF16, kBF16})
    for (Activation a : kActivations)
      for (WeightLayout layout : {WeightLayout::kOutIn, WeightLayout::kInOut})
        for (bool gated : {false, true})
          for (bool residual : {false, true}) {
            for (MlpImpl impl : kImpls) {
              Case c;
              c.dtype = dtype;
              c.activation = a;
              c.layout = layout;
              c.gated = gated;
              c.residual = residual;
              c.impl = impl;
              c.tokens = token_counts[run % 7];
              c.bias = (run / 2) % 2 == 0;
              c.packing = (combo / 8 + combo / 4) % 2 ? GateUpPacking::kInterleaved : GateUpPacking::kConcatenated;
              ++run;
              if (impl == MlpImpl::kDecode && !decode_here()) continue;  // MlpGpu.DecodeOnAnOlderGpuThrows
              if (impl == MlpImpl::kSm90) {
                if (!sm90) continue;
                c.packing = GateUpPacking::kInterleaved;
              }
              run_case(c, rng);
            }
            ++combo;
          }
}

TEST(MlpGpu, TokenCountsFromOneToAThousand) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(std::random_device{}());
  for (int tokens : {1, 3, 17, 64, 65, 300, 1000}) {
    Case swiglu;  // Llama: SwiGLU, nn.Linear weights, no biases, bf16
    swiglu.dtype = kBF16;
    swiglu.activation = Activation::kSilu;
    swiglu.gated = true;
    swiglu.bias = false;
    swiglu.tokens = tokens;
    run_case(swiglu, rng);
    Case gpt2;  // GPT-2: GELU (tanh), Conv1D weights, biases, the residual fused
    gpt2.activation = Activation::kGeluTanh;
    gpt2.layout = WeightLayout::kInOut;
    gpt2.residual = true;
    gpt2.tokens = tokens;
    run_case(gpt2, rng);
  }
}

TEST(MlpGpu, SixteenThousandTokens) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(std::random_device{}());
  for (MlpImpl impl : {MlpImpl::kAuto, MlpImpl::kFused}) {  // 128 token tiles: many raster groups
    Case c;
    c.dtype = kBF16;
    c.activation = Activation::kSilu;
    c.gated = true;
    c.bias = false;
    c.residual = true;
    c.tokens = 16384;
    c.d_model = 64;
    c.d_ff = 136;
    c.impl = impl;
    run_case(c, rng);
  }
  Case erf;
  erf.activation = Activation::kGeluErf;
  erf.layout = WeightLayout::kInOut;
  erf.tokens = 16384;
  erf.d_model = 96;
  erf.d_ff = 200;
  run_case(erf, rng);
  if (sm90_here()) {  // 128 token tiles x 2 feature tiles: each persistent CTA walks several tiles
    Case c;
    c.dtype = kBF16;
    c.activation = Activation::kSilu;
    c.gated = true;
    c.packing = GateUpPacking::kInterleaved;
    c.bias = false;
    c.residual = true;
    c.tokens = 16384;
    c.d_model = 64;
    c.d_ff = 136;
    c.impl = MlpImpl::kSm90;
    run_case(c, rng);
  }
}

namespace {

// The Hopper path's correctness cases: every activation, gated (interleaved)
// and plain, both weight layouts, the given dtypes, with token counts and
// sizes that are not multiples of any configuration's tiles (d_model 264:
// four K tiles and 8 columns of a fifth; gated d_ff 520: 1040 GEMM columns,
// the last 128-wide tile 16 wide, the last 256-wide one 16 wide; plain d_ff
// 1032: a last tile 8 wide, less than one 32-column store group).
void sm90_cases(std::mt19937& rng, std::initializer_list<MlpDType> dtypes) {
  const int token_counts[] = {1, 77, 300, 1000};
  int run = 0;
  for (MlpDType dtype : dtypes)
    for (Activation a : kActivations)
      for (WeightLayout layout : {WeightLayout::kOutIn, WeightLayout::kInOut})
        for (bool gated : {false, true}) {
          Case c;
          c.impl = MlpImpl::kSm90;
          c.dtype = dtype;
          c.activation = a;
          c.layout = layout;
          c.gated = gated;
          c.packing = GateUpPacking::kInterleaved;
          c.tokens = token_counts[run % 4];
          c.bias = run % 3 != 2;
          c.residual = run % 2 == 1;
          c.d_model = 264;
          c.d_ff = gated ? 520 : 1032;
          ++run;
          run_case(c, rng);
        }
  // Several tiles each way and a long K loop: 3 token tiles, 13 feature tiles
  // (gated: 3088 GEMM columns), 16 K tiles; and a K shorter than one tile.
  for (bool gated : {true, false}) {
    Case c;
    c.impl = MlpImpl::kSm90;
    c.dtype = gated ? kBF16 : kF16;
    if (std::find(dtypes.begin(), dtypes.end(), c.dtype) == dtypes.end()) c.dtype = *dtypes.begin();
    c.activation = gated ? Activation::kSilu : Activation::kGeluTanh;
    c.layout = gated ? WeightLayout::kOutIn : WeightLayout::kInOut;
    c.gated = gated;
    c.packing = GateUpPacking::kInterleaved;
    c.tokens = 300;
    c.d_model = 1024;
    c.d_ff = 1544;
    c.residual = true;
    run_case(c, rng);
    c.tokens = 129;
    c.d_model = 40;
    c.d_ff = 264;
    run_case(c, rng);
  }
}

// Forces one kSm90 configuration for the scope (also when an assertion
// throws or returns early), then hands the choice back to the table.
struct ForcedSm90Config {
  explicit ForcedSm90Config(mlp_detail::Sm90GemmConfig c) { mlp_detail::sm90_force_config(c); }
  ~ForcedSm90Config() { mlp_detail::sm90_force_config(std::nullopt); }
  ForcedSm90Config(const ForcedSm90Config&) = delete;
  ForcedSm90Config& operator=(const ForcedSm90Config&) = delete;
};

}  // namespace

// The Hopper path on its own, with the configuration its table picks.
TEST(MlpGpu, Sm90EveryActivationLayoutAndResidue) {
  SKIP_WITHOUT_GPU();
  if (!sm90_here()) GTEST_SKIP() << sm90_missing();
  std::mt19937 rng(std::random_device{}());
  sm90_cases(rng, {kF16, kBF16});
}

// Every compiled configuration (mlp_sm90.h) on the same cases, in each
// dtype it is built for (all in fp16, the first also in bf16), and on the
// 16k-token case (many tiles per persistent CTA).
TEST(MlpGpu, Sm90EveryConfiguration) {
  SKIP_WITHOUT_GPU();
  if (!sm90_here()) GTEST_SKIP() << sm90_missing();
  std::mt19937 rng(std::random_device{}());
  for (mlp_detail::Sm90GemmConfig config : mlp_detail::kSm90Configs) {
    SCOPED_TRACE(std::string("sm90 config ") + mlp_detail::to_string(config));
    const ForcedSm90Config forced(config);
    ASSERT_TRUE(mlp_detail::sm90_config_built(config, kF16));
    {
      MlpParams p;
      p.dtype = kF16;
      EXPECT_EQ(mlp_detail::sm90_default_config(p), config);  // the forcing reaches the launch
    }
    if (mlp_detail::sm90_config_built(config, kBF16)) {
      sm90_cases(rng, {kF16, kBF16});
    } else {
      sm90_cases(rng, {kF16});
    }
    Case c;
    c.dtype = kF16;
    c.activation = Activation::kSilu;
    c.gated = true;
    c.packing = GateUpPacking::kInterleaved;
    c.bias = false;
    c.residual = true;
    c.tokens = 16384;
    c.d_model = 64;
    c.d_ff = 136;
    c.impl = MlpImpl::kSm90;
    run_case(c, rng);
  }
}

// Forcing kSm90 where it cannot run is the caller's error, on any machine:
// gated weights not interleaved, or (without a cc 9.0 GPU or the kernels
// built) any params.
TEST(MlpGpu, Sm90ForcedWhereItCannotRunThrows) {
  MlpParams p;
  int dummy = 0;
  p.x = p.w_up = p.w_down = &dummy;
  p.out = &dummy;
  p.tokens = 1024;
  p.d_model = 4096;
  p.d_ff = 11008;
  p.activation = Activation::kSilu;
  p.impl = MlpImpl::kSm90;
  p.gated = true;
  p.gate_up = GateUpPacking::kConcatenated;
  EXPECT_THROW(mlp_chosen_impl(p), std::invalid_argument);
  EXPECT_THROW(mlp_workspace_bytes(p), std::invalid_argument);
  try {
    mlp_chosen_impl(p);
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("sm90"), std::string::npos) << e.what();
  }
  p.gate_up = GateUpPacking::kInterleaved;
  if (sm90_here()) {
    EXPECT_EQ(mlp_chosen_impl(p), MlpImpl::kSm90);
    p.gated = false;
    EXPECT_EQ(mlp_chosen_impl(p), MlpImpl::kSm90);
  } else {
    EXPECT_THROW(mlp_chosen_impl(p), std::invalid_argument);
    p.gated = false;
    EXPECT_THROW(mlp_chosen_impl(p), std::invalid_argument);
  }
}

TEST(MlpGpu, SplitKCountsAndInPlaceResidual) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(std::random_device{}());
  for (MlpImpl impl : {MlpImpl::kDecode, MlpImpl::kFused}) {
    if (impl == MlpImpl::kDecode && !decode_here()) continue;
    // 1000: capped at the number of K steps (and, decode, at 8 blocks per cluster)
    for (int splits : {1, 2, 3, 7, 1000}) {
      for (bool gated : {false, true}) {
        Case c;
        c.impl = impl;
        c.num_splits = splits;
        c.gated = gated;
        c.activation = gated ? Activation::kGeluTanh : Activation::kSilu;
        c.layout = gated ? WeightLayout::kOutIn : WeightLayout::kInOut;
        c.packing = splits % 2 ? GateUpPacking::kInterleaved : GateUpPacking::kConcatenated;
        c.residual = true;
        c.residual_in_place = true;
        c.tokens = impl == MlpImpl::kDecode ? 33 : 150;
        c.d_model = 264;
        c.d_ff = 1032;
        run_case(c, rng);
      }
    }
  }
  Case lt;  // cuBLASLt reads C and writes D in one buffer
  lt.impl = MlpImpl::kCublasLt;
  lt.residual = true;
  lt.residual_in_place = true;
  lt.tokens = 77;
  run_case(lt, rng);
}

// Llama-7B's sizes with placeholder pointers: for the calls that only plan
// (mlp_chosen_impl, mlp_workspace_sizes) and never touch memory.
MlpParams llama_7b_planning_params() {
  static int placeholder = 0;
  MlpParams p;
  p.x = p.w_up = p.w_down = &placeholder;
  p.out = &placeholder;
  p.d_model = 4096;
  p.d_ff = 11008;
  return p;
}

namespace {

struct RowBlocks {
  int tokens, row_block;
};

// A gated cuBLASLt case over row blocks, with a residual: the activation,
// dtype and whether the residual is added in place vary with the case
// number i; interleaved packing goes with the [in, out] layout.
Case gated_row_block_case(int i, RowBlocks b, bool interleaved) {
  Case c;
  c.impl = MlpImpl::kCublasLt;
  c.gated = true;
  c.activation = i % 2 ? Activation::kGeluErf : Activation::kSilu;
  c.dtype = i % 3 ? kF16 : kBF16;
  c.layout = interleaved ? WeightLayout::kInOut : WeightLayout::kOutIn;
  c.packing = interleaved ? GateUpPacking::kInterleaved : GateUpPacking::kConcatenated;
  c.residual = true;
  c.residual_in_place = i % 2 == 0;
  c.tokens = b.tokens;
  c.row_block = b.row_block;
  c.d_model = 136;
  c.d_ff = 264;
  return c;
}

}  // namespace

// The gated cuBLASLt path makes and activates [gate | up] one row block
// at a time in one reused buffer: blocks that do not divide the tokens, one
// token per block, one block covering everything, both packings and
// layouts, an in-place residual (the down projection reads h only after the
// last block), and in a CUDA graph.
TEST(MlpGpu, CublasLtGatedRowBlocks) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(std::random_device{}());
  int i = 0;
  for (RowBlocks b : {RowBlocks{50, 7}, RowBlocks{9, 1}, RowBlocks{40, 64}, RowBlocks{1000, 300}, RowBlocks{257, 128}}) {
    for (bool interleaved : {false, true}) {
      Case c = gated_row_block_case(i++, b, interleaved);
      c.graph = b.row_block == 7;
      c.residual_in_place = c.residual_in_place && !c.graph;  // a replay would add the residual twice
      run_case(c, rng);
    }
  }
  // One block, h made in place: d_ff past one segment of the in-place pass
  // (8 x 512 features) and not a multiple of it, so outputs overwrite
  // inputs read in earlier segments.
  for (bool interleaved : {false, true}) {
    Case c;
    c.impl = MlpImpl::kCublasLt;
    c.gated = true;
    c.activation = Activation::kSilu;
    c.packing = interleaved ? GateUpPacking::kInterleaved : GateUpPacking::kConcatenated;
    c.tokens = 21;
    c.d_model = 64;
    c.d_ff = 8200;
    run_case(c, rng);
  }
}

// The stored projection's memory is one row block's, not all tokens'; with
// one block, h is made in place in it and takes no memory of its own.
TEST(MlpGpu, CublasLtGatedScratchIsOneRowBlock) {
  MlpParams p = llama_7b_planning_params();
  p.gated = true;
  p.impl = MlpImpl::kCublasLt;
  const auto projection_bytes = [&](int64_t rows) { return std::size_t(rows * 2 * p.d_ff * 2); };
  const int block = mlp_default_row_block();
  ASSERT_GT(block, 0);
  struct Expect {
    int tokens, row_block;
    int64_t rows;
  };
  for (Expect e : {Expect{1, 0, 1}, Expect{block, 0, block}, Expect{block + 1, 0, (block + 2) / 2},
                   Expect{16384, 0, (16384 + (16384 + block - 1) / block - 1) / ((16384 + block - 1) / block)},
                   Expect{100, 30, 25}, Expect{100, 100, 100}, Expect{100, 1, 1}}) {
    p.tokens = e.tokens;
    p.row_block = e.row_block;
    const auto sizes = mlp_workspace_sizes(p);
    EXPECT_EQ(sizes.scratch, (projection_bytes(e.rows) + 255) / 256 * 256) << e.tokens << " tokens, row block "
                                                                            << e.row_block;
    const bool one_block = e.rows == e.tokens;
    EXPECT_EQ(sizes.h, one_block ? 0 : (std::size_t(int64_t{e.tokens} * p.d_ff * 2) + 255) / 256 * 256);
  }
  p.gated = false;  // plain: nothing stored besides h
  p.tokens = 16384;
  EXPECT_EQ(mlp_workspace_sizes(p).scratch, 0u);
}

// The gated cuBLASLt path's row blocks on two streams: an odd and an even
// number of blocks, a short last block, one token per block, both packings,
// layouts and dtypes, with and without biases, a residual in place (each
// block's down GEMM adds only its own rows), and in a CUDA graph: captured
// on a thread that has a side stream already (fork and join inside the
// graph) and on a fresh thread that has none (the blocks then run on the
// caller's stream alone).
TEST(MlpGpu, CublasLtRowBlocksOnTwoStreams) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(std::random_device{}());
  int i = 0;
  for (RowBlocks b : {RowBlocks{50, 7}, RowBlocks{64, 16}, RowBlocks{9, 1}, RowBlocks{1000, 300}, RowBlocks{600, 200}}) {
    for (bool interleaved : {false, true}) {
      Case c = gated_row_block_case(i, b, interleaved);
      c.overlap = RowBlockOverlap::kOn;
      c.bias = i++ % 4 != 1;
      run_case(c, rng);
    }
  }
  Case graphed = gated_row_block_case(0, RowBlocks{45, 8}, false);
  graphed.overlap = RowBlockOverlap::kOn;
  graphed.residual_in_place = false;  // a replay would add the residual twice
  graphed.graph = true;
  run_case(graphed, rng);  // this thread has had a side stream since the cases above
  std::thread fresh([&] {
    try {
      MLOPT_CUDA_CHECK(cudaSetDevice(0));
      std::mt19937 thread_rng(std::random_device{}());
      run_case(graphed, thread_rng);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "on a fresh thread: " << e.what();
    }
  });
  fresh.join();
}

// With the blocks on two streams, the workspace holds two stored blocks and
// two cuBLASLt workspaces and no separate h; with one block, or forced off,
// or not gated, nothing changes.
TEST(MlpGpu, CublasLtRowBlocksOnTwoStreamsWorkspace) {
  const auto sizes_with = [](MlpParams q, RowBlockOverlap overlap) {
    q.overlap = overlap;
    return mlp_workspace_sizes(q);
  };
  MlpParams p = llama_7b_planning_params();
  p.gated = true;
  p.impl = MlpImpl::kCublasLt;
  p.tokens = 16384;
  const auto one_stream = sizes_with(p, RowBlockOverlap::kOff);
  const auto two_streams = sizes_with(p, RowBlockOverlap::kOn);
  EXPECT_EQ(two_streams.h, 0u);
  EXPECT_EQ(two_streams.scratch, 2 * one_stream.scratch);
  EXPECT_EQ(two_streams.cublaslt, 2 * one_stream.cublaslt);
  EXPECT_EQ(two_streams.total, two_streams.scratch + two_streams.cublaslt);
  EXPECT_GT(one_stream.h, 0u);
  for (int tokens : {1, mlp_default_row_block()}) {  // one block: nothing to overlap
    p.tokens = tokens;
    EXPECT_EQ(sizes_with(p, RowBlockOverlap::kOn).total, sizes_with(p, RowBlockOverlap::kOff).total)
        << tokens << " tokens";
  }
  p.tokens = 16384;
  p.gated = false;
  EXPECT_EQ(sizes_with(p, RowBlockOverlap::kOn).total, sizes_with(p, RowBlockOverlap::kOff).total);
}

// The decode path is two launches, the second a programmatic dependent of
// the first, each in thread-block clusters: it must capture into a CUDA
// graph (the optimizer's CUDA-graph transform captures whole forwards) and
// replay correctly, split or not, for token groups of 8 and of 16.
TEST(MlpGpu, DecodeInACudaGraph) {
  SKIP_WITHOUT_GPU();
  if (!decode_here()) GTEST_SKIP() << "the decode path needs compute capability 9.0+";
  std::mt19937 rng(std::random_device{}());
  for (int tokens : {1, 16, 17, 64, 100}) {
    for (bool gated : {false, true}) {
      Case c;
      c.impl = MlpImpl::kDecode;
      c.graph = true;
      c.gated = gated;
      c.activation = gated ? Activation::kSilu : Activation::kGeluTanh;
      c.layout = gated ? WeightLayout::kOutIn : WeightLayout::kInOut;
      c.residual = true;
      c.tokens = tokens;
      c.d_model = 256;
      c.d_ff = 1024;
      run_case(c, rng);
    }
  }
}

// The decode kernels let the next launch on the stream start early and
// wait for the previous one only before reading its results. Two calls
// back to back on one stream, the second reading the first's output as its
// x and residual (and sharing its workspace, so its up projection writes h
// while nothing may still read the first call's h), must each match the
// reference of the inputs they were given. GPT-2 small's size makes the
// planner split K over clusters and hold all the down projection's weights
// in registers before it waits; the Llama-shaped one (16.9 MB of weights)
// holds one step per warp and prefetches nothing.
TEST(MlpGpu, DecodeCallsBackToBackOnOneStream) {
  SKIP_WITHOUT_GPU();
  if (!decode_here()) GTEST_SKIP() << "the decode path needs compute capability 9.0+";
  std::mt19937 rng(std::random_device{}());
  for (int tokens : {1, 16, 64, 128}) {
    for (bool gated : {false, true}) {
      Case c;
      c.impl = MlpImpl::kDecode;
      c.gated = gated;
      c.dtype = gated ? kBF16 : kF16;
      c.activation = gated ? Activation::kSilu : Activation::kGeluTanh;
      c.layout = gated ? WeightLayout::kOutIn : WeightLayout::kInOut;
      c.packing = tokens % 3 ? GateUpPacking::kInterleaved : GateUpPacking::kConcatenated;
      c.bias = !gated;
      c.residual = true;
      c.tokens = tokens;
      c.d_model = gated ? 1024 : 768;
      c.d_ff = gated ? 2752 : 3072;
      SCOPED_TRACE(describe(c) + ", two calls back to back");
      Host first = random_host(c, rng);
      const int64_t elements = int64_t{tokens} * c.d_model;
      CudaStream stream;
      const DeviceInputs in(first);
      DeviceBuffer dmid(std::size_t(elements) * 2), dout(std::size_t(elements) * 2);
      MlpParams one = in.params(c), two = one;
      one.x = in.x.ptr;
      one.residual = in.residual.ptr;
      one.out = dmid.ptr;
      two.x = dmid.ptr;
      two.residual = dmid.ptr;
      two.out = dout.ptr;
      DeviceBuffer workspace(mlp_workspace_bytes(one));
      poison_device(workspace.ptr, workspace.bytes, stream.get());
      poison_device(dmid.ptr, dmid.bytes, stream.get());
      poison_device(dout.ptr, dout.bytes, stream.get());
      mlp_forward(one, stream.get(), workspace.ptr, workspace.bytes);
      mlp_forward(two, stream.get(), workspace.ptr, workspace.bytes);
      stream.synchronize();
      std::vector<uint16_t> mid(static_cast<std::size_t>(elements)), out(mid.size());
      MLOPT_CUDA_CHECK(cudaMemcpy(mid.data(), dmid.ptr, mid.size() * 2, cudaMemcpyDeviceToHost));
      MLOPT_CUDA_CHECK(cudaMemcpy(out.data(), dout.ptr, out.size() * 2, cudaMemcpyDeviceToHost));
      expect_matches_reference(c, first, mid);
      Host second = first;
      second.x = mid;
      second.residual = mid;
      expect_matches_reference(c, second, out);
    }
  }
}

// The decode path keeps h and nothing else: its split-K sums never leave
// the cluster's shared memory.
TEST(MlpGpu, DecodeWorkspaceIsHOnly) {
  SKIP_WITHOUT_GPU();
  if (!decode_here()) GTEST_SKIP() << "the decode path needs compute capability 9.0+";
  MlpParams p = llama_7b_planning_params();
  p.impl = MlpImpl::kDecode;
  for (int tokens : {1, 16, 128}) {
    p.tokens = tokens;
    const MlpWorkspaceSizes sizes = mlp_workspace_sizes(p);
    EXPECT_EQ(sizes.h, (static_cast<std::size_t>(tokens) * p.d_ff * 2 + 255) / 256 * 256) << tokens;
    EXPECT_EQ(sizes.scratch, 0u) << tokens;
    EXPECT_EQ(sizes.cublaslt, 0u) << tokens;
  }
}

// The decode down projection's variants, each forced (the planner picks
// one per size, so the tests' small MLPs alone would not reach them all):
// [in, out] slabs of 128 or 64 features, 1 or 3 steps of weights held per
// warp, 8 and 16 tokens per block, K split or not (the up projection's
// forced to 3 blocks in some), features that end inside a slab (d_model
// 200), with and without a residual.
TEST(MlpGpu, DecodeDownProjectionVariants) {
  SKIP_WITHOUT_GPU();
  if (!decode_here()) GTEST_SKIP() << "the decode path needs compute capability 9.0+";
  struct Unforce {
    ~Unforce() { mlp_detail::decode_force({}); }
  } unforce;
  std::mt19937 rng(std::random_device{}());
  int i = 0;
  for (bool narrow : {false, true})
    for (int held : {1, 3})
      for (int tokens : {1, 8, 9, 16}) {
        const std::optional<int> up_k_blocks = i % 4 == 1 ? std::optional<int>(3) : std::nullopt;
        mlp_detail::decode_force({held, narrow, up_k_blocks});
        Case c;
        c.impl = MlpImpl::kDecode;
        c.layout = i % 4 == 3 ? WeightLayout::kOutIn : WeightLayout::kInOut;  // narrow does not apply: ignored
        c.dtype = i % 2 ? kBF16 : kF16;
        c.gated = i % 3 == 0;
        c.packing = i % 5 < 2 ? GateUpPacking::kInterleaved : GateUpPacking::kConcatenated;
        c.activation = c.gated ? Activation::kSilu : Activation::kGeluTanh;
        c.residual = i % 2 == 0;
        c.tokens = tokens;
        c.num_splits = i % 3 == 1 ? 1 : 0;
        ++i;
        SCOPED_TRACE(std::string(narrow ? "narrow" : "wide") + " slabs, " + std::to_string(held) + " held steps");
        run_case(c, rng);
      }
  EXPECT_THROW(mlp_detail::decode_force({2, std::nullopt, std::nullopt}), std::invalid_argument);
  EXPECT_THROW(mlp_detail::decode_force({std::nullopt, std::nullopt, 0}), std::invalid_argument);
}

// Forcing the decode path on a GPU older than compute capability 9.0 is a
// clear error (on 9.0 and newer it runs: the tests above).
TEST(MlpGpu, DecodeOnAnOlderGpuThrows) {
  SKIP_WITHOUT_GPU();
  if (decode_here()) GTEST_SKIP() << "this GPU runs the decode path";
  MlpParams p = llama_7b_planning_params();
  p.tokens = 1;  // where auto would take the decode path on a newer GPU
  p.impl = MlpImpl::kDecode;
  try {
    mlp_chosen_impl(p);
    ADD_FAILURE() << "forcing decode on this GPU was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("compute capability 9.0"), std::string::npos) << e.what();
  }
  p.impl = MlpImpl::kAuto;
  EXPECT_EQ(mlp_chosen_impl(p), MlpImpl::kCublasLt);
}

// Auto follows the H100 measurements (see mlp_launch.cpp): for Llama-7B's
// 270 MB of weights the decode path at up to 16 tokens on a GPU that runs
// it, cuBLASLt at every other size, packing and activation (the sm90 path,
// measured slower, is never auto's choice, also where it could run); a
// forced implementation is kept.
TEST(MlpGpu, AutoChoosesTheMeasuredFastestAndForcedChoicesStay) {
  MlpParams p = llama_7b_planning_params();
  const bool sm90 = sm90_here();
  const bool older_gpu = device_count() > 0 && !decode_here();
  for (int packing = 0; packing < 3; ++packing) {
    p.gated = packing < 2;
    p.gate_up = packing == 1 ? GateUpPacking::kInterleaved : GateUpPacking::kConcatenated;
    const bool gated = p.gated;
    for (Activation a : {Activation::kSilu, Activation::kGeluTanh, Activation::kGeluErf}) {
      p.activation = a;
      for (int tokens : {1, 16, 17, 64, 65, 128, 255, 256, 1024, 16384}) {
        p.tokens = tokens;
        p.impl = MlpImpl::kAuto;
        const MlpImpl expected = tokens <= 16 && decode_here() ? MlpImpl::kDecode : MlpImpl::kCublasLt;
        EXPECT_EQ(mlp_chosen_impl(p), expected) << tokens << (gated ? " gated " : " plain ") << to_string(p.gate_up);
        for (MlpImpl forced : {MlpImpl::kDecode, MlpImpl::kFused, MlpImpl::kCublasLt}) {
          if (forced == MlpImpl::kDecode && older_gpu) continue;  // MlpGpu.DecodeOnAnOlderGpuThrows
          p.impl = forced;
          EXPECT_EQ(mlp_chosen_impl(p), forced);
        }
        if (sm90 && (!gated || p.gate_up == GateUpPacking::kInterleaved)) {
          p.impl = MlpImpl::kSm90;
          EXPECT_EQ(mlp_chosen_impl(p), MlpImpl::kSm90);
        }
      }
    }
  }
}

// The decode path is auto's choice where it was measured faster: at most
// 16 tokens of an MLP of at most 9 MiB of weights (GPT-2 small: exactly 9
// MiB) or at least 78 MiB (Qwen2.5 1.5B: 78.75 MiB), at most 8 tokens of
// one of at most 16 MiB (GPT-2 medium: exactly 16 MiB). Just outside each
// bound, between them (GPT-2 large and XL) and on a GPU without clusters,
// cuBLASLt.
TEST(MlpGpu, AutoTakesDecodeWhereItWasMeasuredFaster) {
  MlpParams p = llama_7b_planning_params();
  p.d_model = 768;
  p.d_ff = 3072;
  p.gated = false;
  p.activation = Activation::kGeluTanh;
  p.layout = WeightLayout::kInOut;
  const MlpImpl decode = decode_here() ? MlpImpl::kDecode : MlpImpl::kCublasLt;
  const auto expect_impl = [&](MlpImpl expected, std::initializer_list<int> token_counts, const char* what) {
    for (int tokens : token_counts) {
      p.tokens = tokens;
      EXPECT_EQ(mlp_chosen_impl(p), expected) << what << ", " << tokens << " tokens";
    }
  };
  expect_impl(decode, {1, 2, 8, 9, 16}, "GPT-2 small");
  expect_impl(MlpImpl::kCublasLt, {17, 64, 128}, "GPT-2 small");
  p.d_ff = 3080;  // 8 features more: just over 9 MiB
  expect_impl(decode, {1, 8}, "just over 9 MiB");
  expect_impl(MlpImpl::kCublasLt, {9, 16}, "just over 9 MiB");
  p.d_model = 1024;
  p.d_ff = 4096;  // GPT-2 medium: 2 x 1024 x 4096 x 2 bytes, exactly 16 MiB
  expect_impl(decode, {1, 8}, "GPT-2 medium");
  expect_impl(MlpImpl::kCublasLt, {9, 16}, "GPT-2 medium");
  p.d_ff = 4104;  // just over 16 MiB
  expect_impl(MlpImpl::kCublasLt, {1, 8}, "just over 16 MiB");
  p.d_model = 1280;
  p.d_ff = 5120;  // GPT-2 large, 25 MiB
  expect_impl(MlpImpl::kCublasLt, {1, 8, 16}, "GPT-2 large");
  p.d_model = 1600;
  p.d_ff = 6400;  // GPT-2 XL, 39 MiB
  expect_impl(MlpImpl::kCublasLt, {1, 8, 16}, "GPT-2 XL");
  p.d_model = 4096;
  p.d_ff = 4992;  // 2 x 4096 x 4992 x 2 bytes: exactly 78 MiB
  expect_impl(decode, {1, 8, 16}, "78 MiB");
  expect_impl(MlpImpl::kCublasLt, {17}, "78 MiB");
  p.d_ff = 4984;  // 8 features fewer: just under
  expect_impl(MlpImpl::kCublasLt, {1, 16}, "just under 78 MiB");
  p.gated = true;  // Qwen2.5 1.5B: 3 x 1536 x 8960 x 2 bytes, 78.75 MiB
  p.layout = WeightLayout::kOutIn;
  p.activation = Activation::kSilu;
  p.d_model = 1536;
  p.d_ff = 8960;
  expect_impl(decode, {1, 16}, "Qwen2.5 1.5B");
  expect_impl(MlpImpl::kCublasLt, {17}, "Qwen2.5 1.5B");
}

TEST(MlpGpu, RejectsBadCalls) {
  SKIP_WITHOUT_GPU();
  DeviceBuffer buffer(1 << 20), workspace(64 << 20);
  auto* base = static_cast<uint16_t*>(buffer.ptr);
  MlpParams p;
  p.x = base;
  p.w_up = base + 4096;
  p.w_down = base + 8192;
  p.out = base + 16384;
  p.tokens = 4;
  p.d_model = 32;
  p.d_ff = 64;
  EXPECT_NO_THROW(mlp_forward(p, nullptr, workspace.ptr, workspace.bytes));
  MLOPT_CUDA_CHECK(cudaDeviceSynchronize());
  auto message = [&](const MlpParams& q, std::size_t ws_bytes) -> std::string {
    try {
      mlp_forward(q, nullptr, workspace.ptr, ws_bytes);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "accepted";
  };
  MlpParams q = p;
  q.x = base + 1;  // 2-byte aligned only
  EXPECT_NE(message(q, workspace.bytes).find("x must be 16-byte aligned"), std::string::npos);
  EXPECT_NE(message(p, 16).find("workspace"), std::string::npos);
  q = p;
  q.d_ff = 60;
  EXPECT_NE(message(q, workspace.bytes).find("multiple of 8"), std::string::npos);
  q = p;
  q.w_down = nullptr;
  EXPECT_NE(message(q, workspace.bytes).find("w_down is null"), std::string::npos);
}
