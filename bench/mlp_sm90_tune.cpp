// bench_mlp_sm90_tune: every compiled configuration of the Hopper MLP up
// projection (MlpImpl::kSm90's GEMM with its fused epilogue; mlp_sm90.h,
// Sm90GemmConfig) against cuBLASLt's plain GEMM of the same shape (fp16,
// fp32 accumulation, its heuristic's first choice, no epilogue), fp16:
//
//   llama-7b   up projection 4096 -> 2 x 11008 (gate/up interleaved), nn.Linear
//              weights (kOutIn), SwiGLU, no bias; 16384, 1024 and 128 tokens
//   gpt2-small up projection 768 -> 3072, Conv1D weights (kInOut), GELU (tanh),
//              bias; 16384 and 1024 tokens
//
// Prints shape, config, ms (median), TFLOP/s (2 tokens K N_packed), the
// ratio cuBLASLt ms / config ms (> 1: the config is faster than the plain
// GEMM, before counting what cuBLASLt's path still has to do after it), and
// the fastest config per shape: what sm90_table_config (mlp_sm90.h) should
// return there. Writes JSON with --json FILE.
//
// Each config's h is also checked against cuBLASLt's GEMM output with the
// epilogue applied on the host (rows at the start and the end of h), so a
// configuration that computes the wrong columns shows up here too. Exit
// status 1 when a config fails to run or disagrees, 2 on bad usage.
//
// CUDA runtime and mlopt's kernels only (no libtorch tensors): it needs
// the Hopper kernels built and a cc 9.0 GPU.
#include <CLI/CLI.hpp>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_json.h"
#include "bench_main.h"
#include "bench_timing.h"
#include "mlopt/core/atomic_file.h"
#include "mlopt/core/environment.h"
#include "mlopt/core/stats.h"
#include "mlopt/kernels/cuda_check.h"
#include "mlopt/kernels/cuda_event.h"
#include "mlopt/kernels/device_query.h"
#include "mlopt/kernels/half_bits.h"
#include "mlp_dispatch.h"
#include "mlp_sm90.h"

namespace mlopt::bench {
namespace {

using kernels::Activation;
using kernels::MlpDType;
using kernels::WeightLayout;
using kernels::mlp_detail::Sm90GemmConfig;

struct Shape {
  std::string model;
  int tokens, d_model, d_ff;
  bool gated;
  Activation activation;
  WeightLayout layout;
  bool bias;
  int packed() const { return gated ? 2 * d_ff : d_ff; }
  double flops() const { return 2.0 * tokens * double(packed()) * d_model; }
};

const Shape kShapes[] = {
    {"llama-7b", 16384, 4096, 11008, true, Activation::kSilu, WeightLayout::kOutIn, false},
    // The same GEMM with the plainest epilogue (no activation, no gating):
    // what the mainloop reaches without the gated epilogue's work.
    {"llama-7b-plain-epilogue", 16384, 4096, 22016, false, Activation::kNone, WeightLayout::kOutIn, false},
    {"llama-7b", 1024, 4096, 11008, true, Activation::kSilu, WeightLayout::kOutIn, false},
    {"llama-7b", 128, 4096, 11008, true, Activation::kSilu, WeightLayout::kOutIn, false},
    {"gpt2-small", 16384, 768, 3072, false, Activation::kGeluTanh, WeightLayout::kInOut, true},
    {"gpt2-small", 1024, 768, 3072, false, Activation::kGeluTanh, WeightLayout::kInOut, true},
};

struct Options {
  std::string json;
  int iters = 20, warmup = 5;
  bool no_l2_flush = false;
};

struct Row {
  std::string config;  // "cublaslt-gemm" or a Sm90GemmConfig's name
  std::string error;
  double ms = 0, tflops = 0, ratio = 0;  // ratio: cuBLASLt ms / ms
  double max_error = -1;                 // against cuBLASLt + host epilogue (configs only)
};

// Uniform in [-scale, scale) as fp16 bits, from a fixed-seed xorshift: the
// same data every run, and not zeros (which would flatter the tensor cores'
// power draw).
std::vector<uint16_t> random_fp16(std::size_t n, float scale, uint32_t seed) {
  std::vector<uint16_t> v(n);
  uint32_t s = seed | 1u;
  for (auto& e : v) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    e = kernels::float_to_half_bits(scale * (static_cast<float>(s >> 8) * (2.0f / 16777216.0f) - 1.0f));
  }
  return v;
}

float activate(float x, Activation a) { return static_cast<float>(apply_activation(x, a)); }

void upload(const DeviceBuffer& dst, const std::vector<uint16_t>& src) {
  MLOPT_CUDA_CHECK(cudaMemcpy(dst.get(), src.data(), src.size() * 2, cudaMemcpyHostToDevice));
}

// Rows [first, first + count) of a [rows, cols] fp16 device matrix, as floats.
std::vector<float> download_rows(const void* base, int cols, int first, int count) {
  std::vector<uint16_t> bits(static_cast<std::size_t>(count) * cols);
  MLOPT_CUDA_CHECK(cudaMemcpy(bits.data(), static_cast<const uint16_t*>(base) + int64_t{first} * cols,
                              bits.size() * 2, cudaMemcpyDeviceToHost));
  std::vector<float> out(bits.size());
  for (std::size_t i = 0; i < bits.size(); ++i) out[i] = kernels::half_bits_to_float(bits[i]);
  return out;
}

// max |h - ref| / max(1, |ref|) over the checked rows, where ref = the
// epilogue applied on the host to cuBLASLt's packed GEMM output `d`.
double check_rows(const Shape& s, const void* h, const void* d, const std::vector<uint16_t>& bias) {
  double worst = 0;
  const int count = std::min(s.tokens, 64);
  for (int first : {0, s.tokens - count}) {
    const auto got = download_rows(h, s.d_ff, first, count);
    const auto proj = download_rows(d, s.packed(), first, count);
    for (int r = 0; r < count; ++r)
      for (int f = 0; f < s.d_ff; ++f) {
        const auto at = [&](int col) {
          const float b = s.bias ? kernels::half_bits_to_float(bias[static_cast<std::size_t>(col)]) : 0.0f;
          return proj[static_cast<std::size_t>(r) * s.packed() + col] + b;
        };
        const float ref = s.gated ? activate(at(2 * f), s.activation) * at(2 * f + 1) : activate(at(f), s.activation);
        const float v = got[static_cast<std::size_t>(r) * s.d_ff + f];
        const double err = std::isfinite(v) ? std::abs(double(v) - ref) / std::max(1.0, std::abs(double(ref))) : 1e30;
        worst = std::max(worst, err);
      }
  }
  return worst;
}

// Pre-activations are ~N(0, 1/3^2) here (x ~ U(-1, 1), w ~ U(-1, 1)/sqrt(K)),
// |v| < ~2. The legitimate differences: cuBLASLt's d is rounded to fp16
// before the host epilogue (an ulp of 2 is 2e-3; the gated product of two
// such values doubles it) and h is rounded once more (1e-3 at 2). A wrong
// column or row is off by the size of the values themselves (0.1-1).
constexpr double kTolerance = 1e-2;

std::vector<Row> run_shape(const Bench& b, const Shape& s, const DeviceBuffer& x, const DeviceBuffer& w,
                           const DeviceBuffer& bias, const std::vector<uint16_t>& bias_host, const DeviceBuffer& h,
                           const DeviceBuffer& d, const DeviceBuffer& lt_workspace, const DeviceBuffer& workspace) {
  namespace md = kernels::mlp_detail;
  std::vector<Row> rows;

  Row lt;
  lt.config = "cublaslt-gemm";
  md::LtMatmul mm;
  mm.a = x.get();
  mm.w = w.get();
  mm.d = d.get();
  mm.m = s.tokens;
  mm.n = s.packed();
  mm.k = s.d_model;
  try {
    const auto samples = b.time([&] {
      md::cublaslt_matmul(mm, s.layout, MlpDType::kFloat16, b.stream, lt_workspace.get(), lt_workspace.bytes());
    });
    lt.ms = summarize(samples).median_ms;
    lt.tflops = s.flops() / (lt.ms * 1e-3) / 1e12;
    lt.ratio = 1.0;
  } catch (const std::exception& e) {
    lt.error = e.what();
    const std::string sticky = clear_cuda_error();
    if (!sticky.empty()) throw std::runtime_error("cuBLASLt left the CUDA context unusable: " + sticky);
  }
  rows.push_back(lt);

  for (Sm90GemmConfig config : md::kSm90Configs) {
    if (!md::sm90_config_built(config, MlpDType::kFloat16)) continue;
    Row r;
    r.config = md::to_string(config);
    md::Sm90UpArgs a;
    a.x = x.get();
    a.w = w.get();
    a.bias = s.bias ? bias.get() : nullptr;
    a.h = h.get();
    a.m = s.tokens;
    a.n_out = s.d_ff;
    a.k = s.d_model;
    a.gated = s.gated;
    a.activation = s.activation;
    a.layout = s.layout;
    a.config = config;
    try {
      const std::size_t ws = md::sm90_up_workspace(a, MlpDType::kFloat16);
      if (ws > workspace.bytes()) throw std::runtime_error("needs " + std::to_string(ws) + " bytes of workspace");
      MLOPT_CUDA_CHECK(cudaMemsetAsync(h.get(), 0xff, int64_t{s.tokens} * s.d_ff * 2, b.stream));  // NaN: unwritten shows
      const auto samples =
          b.time([&] { md::run_sm90_up(a, MlpDType::kFloat16, workspace.get(), workspace.bytes(), b.stream); });
      MLOPT_CUDA_CHECK(cudaStreamSynchronize(b.stream));
      r.ms = summarize(samples).median_ms;
      r.tflops = s.flops() / (r.ms * 1e-3) / 1e12;
      r.ratio = lt.error.empty() ? lt.ms / r.ms : 0.0;
      if (lt.error.empty()) r.max_error = check_rows(s, h.get(), d.get(), bias_host);
    } catch (const std::exception& e) {
      r.error = e.what();
      const std::string sticky = clear_cuda_error();
      if (!sticky.empty()) throw std::runtime_error(r.config + " left the CUDA context unusable: " + sticky);
    }
    rows.push_back(r);
  }
  return rows;
}

std::string shape_name(const Shape& s) {
  return s.model + " " + std::to_string(s.tokens) + "x" + std::to_string(s.packed()) + "x" +
         std::to_string(s.d_model) + (s.gated ? " gated" : " plain") + " " + kernels::to_string(s.layout);
}

// The command line, declared on `app` (its options write into `o`).
void add_options(CLI::App& app, Options& o) {
  app.add_option("--json", o.json, "Write every configuration's time and error to this JSON file");
  add_timing_options(app, o.iters, o.warmup, "calls per configuration", "calls");
  app.add_flag("--no-l2-flush", o.no_l2_flush, "Do not overwrite the L2 cache before each timed call");
}

int run(const Options& o) {
  namespace md = kernels::mlp_detail;
  if (kernels::device_count() == 0) throw std::runtime_error("no CUDA device is visible: run this on the GPU machine");
  int device = 0;
  MLOPT_CUDA_CHECK(cudaGetDevice(&device));
  const auto props = kernels::device_properties(device);
  if (!md::sm90_device()) throw std::runtime_error("the Hopper up projection needs a GPU of compute capability 9.0");
  std::printf("bench_mlp_sm90_tune: %s (sm_%d%d, %d SMs), fp16\n", props.name.c_str(), props.compute_major,
              props.compute_minor, props.multiprocessors);
  kernels::CudaStream stream;
  const Bench b(stream.get(), {o.warmup, o.iters}, device, !o.no_l2_flush);
  std::printf("timing: CUDA events around each call, %d warm-up + %d timed, median; %s\n\n", o.warmup, o.iters,
              b.flusher ? "L2 flushed before each call" : "no L2 flush");

  // One set of buffers, sized for the largest shape.
  std::size_t x_n = 0, w_n = 0, h_n = 0, d_n = 0, b_n = 0, ws = 0;
  for (const Shape& s : kShapes) {
    x_n = std::max(x_n, std::size_t(s.tokens) * s.d_model);
    w_n = std::max(w_n, std::size_t(s.packed()) * s.d_model);
    h_n = std::max(h_n, std::size_t(s.tokens) * s.d_ff);
    d_n = std::max(d_n, std::size_t(s.tokens) * s.packed());
    b_n = std::max(b_n, std::size_t(s.packed()));
  }
  const auto x_host = random_fp16(x_n, 1.0f, 1);
  const DeviceBuffer x(x_n * 2), w(w_n * 2), h(h_n * 2), d(d_n * 2), bias(b_n * 2);
  upload(x, x_host);
  const DeviceBuffer lt_workspace(md::kCublasLtWorkspaceBytes);

  nlohmann::json shapes_json = nlohmann::json::array();
  bool failed = false;
  std::printf("%-44s %-18s %9s %9s %8s %10s\n", "shape (M x N x K)", "config", "ms", "TFLOP/s", "vs cuBLASLt",
              "max error");
  for (const Shape& s : kShapes) {
    // Weights ~ U(-1, 1) / sqrt(K): pre-activations O(0.6).
    const auto w_host = random_fp16(std::size_t(s.packed()) * s.d_model, 1.0f / std::sqrt(float(s.d_model)), 7);
    const auto bias_host = random_fp16(std::size_t(s.packed()), 0.1f, 11);
    upload(w, w_host);
    upload(bias, bias_host);
    ws = 0;
    for (Sm90GemmConfig config : md::kSm90Configs) {
      md::Sm90UpArgs a;
      a.m = s.tokens;
      a.n_out = s.d_ff;
      a.k = s.d_model;
      a.gated = s.gated;
      a.layout = s.layout;
      a.h = h.get();
      a.config = config;
      ws = std::max(ws, md::sm90_up_workspace(a, MlpDType::kFloat16));
    }
    const DeviceBuffer workspace(std::max<std::size_t>(ws, 256));

    const auto rows = run_shape(b, s, x, w, bias, bias_host, h, d, lt_workspace, workspace);
    const std::string name = shape_name(s);
    const Row* best = nullptr;
    nlohmann::json rows_json = nlohmann::json::array();
    for (const Row& r : rows) {
      const bool bad = !r.error.empty() || r.max_error > kTolerance;
      if (r.config != "cublaslt-gemm" && bad) failed = true;
      if (!r.error.empty()) {
        std::printf("%-44s %-18s failed: %s\n", name.c_str(), r.config.c_str(), r.error.c_str());
      } else {
        std::printf("%-44s %-18s %9.4f %9.1f %8.3fx %10.2e%s\n", name.c_str(), r.config.c_str(), r.ms, r.tflops,
                    r.ratio, r.max_error, r.max_error > kTolerance ? " WRONG" : "");
        if (r.config != "cublaslt-gemm" && !bad && (best == nullptr || r.ms < best->ms)) best = &r;
      }
      nlohmann::json j{{"config", r.config}, {"ms", r.ms}, {"tflops", r.tflops}, {"ratio_to_cublaslt", r.ratio}};
      if (r.max_error >= 0) j["max_error"] = r.max_error;
      if (!r.error.empty()) j["error"] = r.error;
      rows_json.push_back(j);
    }
    if (best != nullptr) {
      std::printf("%-44s fastest: %s (%.3fx cuBLASLt's GEMM)\n\n", name.c_str(), best->config.c_str(), best->ratio);
    }
    shapes_json.push_back({{"model", s.model},
                           {"tokens", s.tokens},
                           {"m", s.tokens},
                           {"n", s.packed()},
                           {"k", s.d_model},
                           {"gated", s.gated},
                           {"layout", kernels::to_string(s.layout)},
                           {"activation", kernels::to_string(s.activation)},
                           {"flops", s.flops()},
                           {"fastest", best != nullptr ? best->config : ""},
                           {"rows", rows_json}});
  }

  if (!o.json.empty()) {
    nlohmann::json doc = bench_json_head("bench_mlp_sm90_tune", props, {o.warmup, o.iters}, !o.no_l2_flush);
    doc["dtype"] = "fp16";
    doc["flops_formula"] = "2 * tokens * n_packed * d_model";
    doc["tolerance"] = kTolerance;
    doc["shapes"] = shapes_json;
    write_file_atomically(o.json, doc.dump(2) + "\n");
    std::printf("wrote %s\n", o.json.c_str());
  }
  if (failed) std::printf("FAILED: a configuration did not run or disagrees with cuBLASLt\n");
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace mlopt::bench

int main(int argc, char** argv) {
  mlopt::bench::Options o;
  CLI::App app{"bench_mlp_sm90_tune: every configuration of the Hopper MLP up projection against cuBLASLt's GEMM of "
               "the same shape (fp16, cc 9.0 GPU), to fill its config table",
               "bench_mlp_sm90_tune"};
  mlopt::bench::add_options(app, o);
  const auto run = [&o] { return mlopt::bench::run(o); };
  return mlopt::bench::bench_main(app, argc, argv, run);
}
