// bench_mlp: mlopt::fused_mlp against the unfused libtorch sequence, in one
// process on the same inputs and weights:
//
//   GPT-2 small  768 -> 3072 -> 768, GELU (tanh), Conv1D weights, biases, fp16:
//                unfused = addmm, gelu(tanh), addmm (what GPT-2's MLP runs)
//   Llama-7B     4096 -> 11008 -> 4096, SwiGLU, nn.Linear weights, no biases, bf16:
//                unfused = linear (gate), linear (up), silu, mul, linear (down)
//
// at 1, 16, 128, 1024 and 16384 tokens. "fused" is the op as a transformed
// graph calls it (its automatic choice of implementation, gated weights
// packed interleaved as the graph rewrite packs them); each of mlopt's
// implementations is also timed on its own (kernels API, forced), which is
// what the automatic choice's thresholds are checked against ("mlopt-sm90",
// the Hopper up projection, runs a gated MLP on the same weights repacked
// interleaved, which it needs; it is not run on GPUs other than cc 9.0).
// Prints time,
// TFLOP/s (2 tokens (d F (gated ? 2 : 1) + F d) per forward) and the bytes
// of intermediates each variant writes, writes JSON (--json) with the
// targets of the issue stated as met or not.
//
// Exit status 1 when one of mlopt's outputs disagrees with the unfused
// output or one of mlopt's variants fails to run; 2 on bad usage.
#include <CLI/CLI.hpp>
#include <ATen/ATen.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/script.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bench_json.h"
#include "bench_main.h"
#include "bench_timing.h"
#include "kernel_breakdown.h"
#include "mlopt/core/atomic_file.h"
#include "mlopt/core/environment.h"
#include "mlopt/core/ops.h"
#include "mlopt/core/stats.h"
#include "mlopt/kernels/cuda_check.h"
#include "mlopt/kernels/device_query.h"
#include "mlopt/kernels/mlp.h"
#include "mlp_dispatch.h"  // kernels/src: cublaslt_force_algo, for --lt-algos

namespace mlopt::bench {
namespace {

struct Model {
  std::string name;
  int d_model, d_ff;
  bool gated;
  std::string activation;  // the op's name for it
  bool in_out;             // Conv1D weights
  bool bias;
  at::ScalarType dtype;
};

const Model kModels[] = {
    {"gpt2-small", 768, 3072, false, "gelu_tanh", true, true, at::kHalf},
    {"llama-7b", 4096, 11008, true, "silu", false, false, at::kBFloat16},
    // Between the two (--model), for where kAuto's decode bounds sit:
    // GPT-2 medium, large and XL (16.8, 26.2 and 41.0 MB of weights),
    // Qwen2.5 1.5B (82.6 MB) and Llama 3.2 1B (100.7 MB).
    {"gpt2-medium", 1024, 4096, false, "gelu_tanh", true, true, at::kHalf},
    {"gpt2-large", 1280, 5120, false, "gelu_tanh", true, true, at::kHalf},
    {"gpt2-xl", 1600, 6400, false, "gelu_tanh", true, true, at::kHalf},
    {"qwen2.5-1.5b", 1536, 8960, true, "silu", false, false, at::kBFloat16},
    {"llama-1b", 2048, 8192, true, "silu", false, false, at::kBFloat16},
};

struct Options {
  std::string json;
  std::vector<std::string> models = {"gpt2-small", "llama-7b"};
  std::vector<int> tokens = {1, 16, 128, 1024, 16384};
  int iters = 30, warmup = 10;
  bool no_l2_flush = false;
  bool kernels = false;  // trace each variant's kernels (CUPTI) after timing it
  std::vector<int> row_blocks;  // gated: also time the cuBLASLt path with these row blocks
  int lt_algos = 1;             // also time the cuBLASLt path on the heuristic's answers 1 .. lt_algos - 1
  std::vector<int> decode_splits;  // also time the decode path with K split over this many blocks
  std::vector<int> decode_held;    // also time the decode path with this many held steps (small MLPs)
  std::vector<std::string> decode_slabs;  // also time the decode path with wide / narrow [in, out] slabs
  std::vector<int> decode_up_splits;      // also time the decode path with the up projection's K over this many blocks
  bool overlap = false;         // gated: also time the cuBLASLt path's row blocks on two streams, forced on and off
  int rounds = 1;               // interleaved timing rounds per case (time_in_rounds)
};

// The op's packed weights ([out, in] or [in, out]; gated w_up = [gate; up]).
struct Weights {
  at::Tensor w_up, b_up, w_down, b_down;
};

struct Variant {
  std::string name;  // "unfused", "fused", "mlopt-decode", "mlopt-fused", "mlopt-cublaslt", "mlopt-sm90", "mlopt-cublaslt-rbN"
  bool ours = false;
  std::string error;  // did not run (why)
  std::vector<double> samples_ms;   // every round's
  std::vector<double> round_medians_ms;  // one per timing round
  LatencyStats stats;
  double tflops = 0;
  std::size_t intermediate_bytes = 0;  // written between the two projections (and split partial sums)
  std::size_t scratch_bytes = 0;       // cuBLASLt's own workspace (ours only)
  double max_error = -1;               // max |out - unfused| / max |unfused| (ours only)
  bool check_ok = true;
  std::optional<KernelBreakdown> breakdown;  // --kernels
};

struct Case {
  std::string model;
  int tokens = 0;
  double flops = 0;
  std::string auto_impl;  // what the fused op chose
  std::vector<Variant> variants;
  const Variant* find(const std::string& name) const {
    for (const auto& v : variants) {
      if (v.name == name && v.error.empty()) return &v;
    }
    return nullptr;
  }
};

std::string message_of(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) return c10_error->what_without_backtrace();
  return e.what();
}

at::Tensor activation(const at::Tensor& t, const std::string& name) {
  if (name == "gelu_tanh") return at::gelu(t, "tanh");
  if (name == "gelu") return at::gelu(t);
  if (name == "silu") return at::silu(t);
  if (name == "relu") return at::relu(t);
  return t;
}

// One projection as a model's own layer computes it.
at::Tensor project(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, bool in_out) {
  if (in_out) return b.defined() ? at::addmm(b, x, w) : at::mm(x, w);  // Conv1D
  return at::linear(x, w, b.defined() ? std::optional<at::Tensor>(b) : std::nullopt);
}

at::Tensor unfused(const Model& m, const Weights& w, const at::Tensor& x) {
  if (!m.gated) return project(activation(project(x, w.w_up, w.b_up, m.in_out), m.activation), w.w_down, w.b_down, m.in_out);
  const auto gate_w = m.in_out ? w.w_up.narrow(1, 0, m.d_ff) : w.w_up.narrow(0, 0, m.d_ff);
  const auto up_w = m.in_out ? w.w_up.narrow(1, m.d_ff, m.d_ff) : w.w_up.narrow(0, m.d_ff, m.d_ff);
  const auto gate_b = w.b_up.defined() ? w.b_up.narrow(0, 0, m.d_ff) : at::Tensor();
  const auto up_b = w.b_up.defined() ? w.b_up.narrow(0, m.d_ff, m.d_ff) : at::Tensor();
  const auto gate = project(x, gate_w, gate_b, m.in_out);
  const auto up = project(x, up_w, up_b, m.in_out);
  return project(activation(gate, m.activation) * up, w.w_down, w.b_down, m.in_out);
}

// The same weights with gate and up interleaved feature by feature (gate j
// = feature 2j, up j = 2j+1), as MlpImpl::kSm90 wants them; non-gated
// weights are returned as they are.
Weights interleaved(const Model& m, const Weights& w) {
  if (!m.gated) return w;
  const int64_t f = m.d_ff;
  const int dim = m.in_out ? 1 : 0;  // the output-feature dimension of w_up
  Weights r = w;
  r.w_up = at::stack({w.w_up.narrow(dim, 0, f), w.w_up.narrow(dim, f, f)}, dim + 1)
               .reshape(m.in_out ? std::vector<int64_t>{m.d_model, 2 * f} : std::vector<int64_t>{2 * f, m.d_model})
               .contiguous();
  if (w.b_up.defined()) r.b_up = at::stack({w.b_up.narrow(0, 0, f), w.b_up.narrow(0, f, f)}, 1).reshape({2 * f}).contiguous();
  return r;
}

// The op as mlopt's graph rewrite calls it: gated weights packed
// interleaved (`w` must be, see interleaved()), which is what the rewrite
// produces.
at::Tensor fused_op(const Model& m, const Weights& w, const at::Tensor& x) {
  static const auto op = c10::Dispatcher::singleton().findSchemaOrThrow("mlopt::fused_mlp", "");
  const auto optional = [](const at::Tensor& t) { return t.defined() ? c10::IValue(t) : c10::IValue(); };
  torch::jit::Stack stack{x,           w.w_up,  optional(w.b_up),                   w.w_down,     optional(w.b_down),
                          m.activation, m.gated, std::string(m.in_out ? "in_out" : "out_in"), c10::IValue(),
                          std::string(m.gated ? "interleaved" : "concatenated")};
  op.callBoxed(&stack);
  return stack.at(0).toTensor();
}

kernels::MlpParams kernel_params(const Model& m, const Weights& w, const at::Tensor& x, const at::Tensor& out,
                                 kernels::MlpImpl impl) {
  kernels::MlpParams p;
  p.x = x.data_ptr();
  p.w_up = w.w_up.data_ptr();
  p.b_up = w.b_up.defined() ? w.b_up.data_ptr() : nullptr;
  p.w_down = w.w_down.data_ptr();
  p.b_down = w.b_down.defined() ? w.b_down.data_ptr() : nullptr;
  p.out = out.data_ptr();
  p.tokens = static_cast<int>(x.size(0));
  p.d_model = m.d_model;
  p.d_ff = m.d_ff;
  p.activation = m.activation == "silu" ? kernels::Activation::kSilu : kernels::Activation::kGeluTanh;
  p.gated = m.gated;
  p.layout = m.in_out ? kernels::WeightLayout::kInOut : kernels::WeightLayout::kOutIn;
  p.dtype = m.dtype == at::kHalf ? kernels::MlpDType::kFloat16 : kernels::MlpDType::kBFloat16;
  p.impl = impl;
  return p;
}

// Set by --kernels: each variant's kernels are traced after its timing.
bool g_trace_kernels = false;

void check_against(Variant& v, const at::Tensor& ours, const at::Tensor& reference, at::ScalarType dtype) {
  const auto ref = reference.to(at::kFloat);
  const double scale = ref.abs().max().item<double>();
  v.max_error = (ours.to(at::kFloat) - ref).abs().max().item<double>() / std::max(scale, 1e-6);
  // Both outputs round to the dtype (fp16 2^-11, bf16 2^-8 relative) after
  // fp32 sums in different orders; the unfused one rounds each step.
  v.check_ok = std::isfinite(v.max_error) && v.max_error <= (dtype == at::kHalf ? 1e-2 : 4e-2);
}

// After a failure: give cached blocks back (an out-of-memory failure left
// the allocator full) and clear a non-sticky CUDA error.
void recover() {
  const std::string sticky = clear_cuda_error();
  if (!sticky.empty()) throw std::runtime_error("the CUDA context is lost: " + sticky);
  c10::cuda::CUDACachingAllocator::emptyCache();
}

// Forces cuBLASLt's heuristic answer `index` for its lifetime (none: the default).
struct ForcedLtAlgo {
  explicit ForcedLtAlgo(int index) {
    if (index > 0) kernels::mlp_detail::cublaslt_force_algo(index);
  }
  ~ForcedLtAlgo() { kernels::mlp_detail::cublaslt_force_algo(std::nullopt); }
  ForcedLtAlgo(const ForcedLtAlgo&) = delete;
  ForcedLtAlgo& operator=(const ForcedLtAlgo&) = delete;
};

// The decode down projection's choices forced for a scope (empty: the planner's).
struct ForcedDecode {
  explicit ForcedDecode(const kernels::mlp_detail::DecodeForced& forced) { kernels::mlp_detail::decode_force(forced); }
  ~ForcedDecode() { kernels::mlp_detail::decode_force({}); }
  ForcedDecode(const ForcedDecode&) = delete;
  ForcedDecode& operator=(const ForcedDecode&) = delete;
};

// A variant of a case, set up and checked, waiting to be timed: its index
// in Case::variants and the call to time (which owns what it needs).
struct Timed {
  std::size_t variant = 0;
  std::function<void()> launch;
};

// Times a case's variants in `rounds` interleaved rounds (each round calls
// every variant in turn, warm-up + iters calls each: A B C, then e.g. C A B),
// so that the GPU's clock drift over the case, which moves a 16k-token Llama
// MLP by 5% within a run, falls on every variant alike rather than on
// whichever was timed last. The first round takes the variants in their
// order, each later one in a shuffled order (a fixed seed, so runs repeat):
// on an H100 at 16k tokens the variant timed right after a slow, low-power
// one ran at boost clocks, 10% faster than the same configuration timed two
// places later (bench/results/mlp-16k-fine-rounds-h100-2026-12-06.json), so
// no variant may always hold the same place or follow the same neighbour.
// The median is over all rounds' samples. A variant that fails keeps its
// error and is left out of later rounds.
void time_in_rounds(const Bench& b, Case& c, const std::vector<Timed>& timed, int rounds) {
  std::vector<std::size_t> order(timed.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::mt19937 shuffler(20261206);
  for (int r = 0; r < rounds; ++r) {
    if (r > 0) std::shuffle(order.begin(), order.end(), shuffler);
    for (std::size_t i : order) {
      const Timed& t = timed[i];
      Variant& v = c.variants[t.variant];
      if (!v.error.empty()) continue;
      try {
        const std::vector<double> samples = b.time(t.launch);
        v.samples_ms.insert(v.samples_ms.end(), samples.begin(), samples.end());
        v.round_medians_ms.push_back(summarize(samples).median_ms);
      } catch (const std::exception& e) {
        v.error = message_of(e);
        recover();
      }
    }
  }
  for (const Timed& t : timed) {
    Variant& v = c.variants[t.variant];
    if (!v.error.empty()) continue;
    v.stats = summarize(v.samples_ms);
    v.tflops = c.flops / (v.stats.median_ms * 1e-3) / 1e12;
    if (g_trace_kernels) v.breakdown = kernel_breakdown(b.stream, t.launch, b.flusher.get());
  }
}

Case run_case(const Bench& b, const Model& m, const Weights& w, int tokens, const Options& o) {
  Case c;
  c.model = m.name;
  c.tokens = tokens;
  const double d = m.d_model, f = m.d_ff;
  c.flops = 2.0 * tokens * (d * f * (m.gated ? 2 : 1) + f * d);
  const auto options = w.w_up.options();
  const auto x = at::randn({tokens, m.d_model}, options);
  const std::size_t es = 2;
  std::vector<Timed> timed;  // filled as the variants are set up, timed together at the end

  Variant base;
  base.name = "unfused";
  base.intermediate_bytes = std::size_t(tokens) * m.d_ff * es * (m.gated ? 4 : 2);  // gate, up, act, product | proj, act
  at::Tensor reference;
  try {
    reference = unfused(m, w, x);
    timed.push_back({c.variants.size(), [&m, &w, &x] { unfused(m, w, x); }});
  } catch (const std::exception& e) {
    base.error = message_of(e);
    recover();
  }
  c.variants.push_back(base);

  // The op, as a graph calls it (gated: on the interleaved weights the
  // graph rewrite produces).
  Variant fused;
  fused.name = "fused";
  fused.ours = true;
  try {
    const Weights graph_weights = interleaved(m, w);
    auto p = kernel_params(m, graph_weights, x, x, kernels::MlpImpl::kAuto);
    if (m.gated) p.gate_up = kernels::GateUpPacking::kInterleaved;
    c.auto_impl = kernels::to_string(kernels::mlp_chosen_impl(p));
    const auto sizes = kernels::mlp_workspace_sizes(p);
    fused.intermediate_bytes = sizes.h + sizes.scratch;
    fused.scratch_bytes = sizes.cublaslt;
    const auto out = fused_op(m, graph_weights, x);
    if (reference.defined()) check_against(fused, out, reference, m.dtype);
    timed.push_back({c.variants.size(), [&m, graph_weights, &x] { fused_op(m, graph_weights, x); }});
  } catch (const std::exception& e) {
    fused.error = message_of(e);
    recover();
  }
  c.variants.push_back(fused);

  // Each implementation on its own; gated, the cuBLASLt path also with
  // each asked row block (MlpParams::row_block) that splits these tokens.
  struct Impl {
    std::string name;
    kernels::MlpImpl impl;
    int row_block = 0;
    int lt_algo = 0;  // cuBLASLt's heuristic answer (0: its first)
    kernels::RowBlockOverlap overlap = kernels::RowBlockOverlap::kAuto;
    int splits = 0;  // MlpParams::num_splits (0: the planner's)
    kernels::mlp_detail::DecodeForced decode = {};  // the decode down projection's choices (empty: the planner's)
  };
  std::vector<Impl> impls = {{"mlopt-decode", kernels::MlpImpl::kDecode},
                             {"mlopt-fused", kernels::MlpImpl::kFused},
                             {"mlopt-cublaslt", kernels::MlpImpl::kCublasLt},
                             {"mlopt-sm90", kernels::MlpImpl::kSm90}};
  for (int rows : o.row_blocks) {
    if (m.gated) impls.push_back({"mlopt-cublaslt-rb" + std::to_string(rows), kernels::MlpImpl::kCublasLt, rows});
  }
  for (int algo = 1; algo < o.lt_algos; ++algo) {
    impls.push_back({"mlopt-cublaslt-algo" + std::to_string(algo), kernels::MlpImpl::kCublasLt, 0, algo});
  }
  for (int splits : o.decode_splits) {
    impls.push_back({"mlopt-decode-splits" + std::to_string(splits), kernels::MlpImpl::kDecode, 0, 0,
                     kernels::RowBlockOverlap::kAuto, splits});
  }
  for (int held : o.decode_held) {
    impls.push_back({"mlopt-decode-held" + std::to_string(held), kernels::MlpImpl::kDecode, 0, 0,
                     kernels::RowBlockOverlap::kAuto, 0, {held, std::nullopt, std::nullopt}});
  }
  for (int blocks : o.decode_up_splits) {
    impls.push_back({"mlopt-decode-up-splits" + std::to_string(blocks), kernels::MlpImpl::kDecode, 0, 0,
                     kernels::RowBlockOverlap::kAuto, 0, {std::nullopt, std::nullopt, blocks}});
  }
  for (const std::string& slabs : o.decode_slabs) {
    impls.push_back({"mlopt-decode-" + slabs, kernels::MlpImpl::kDecode, 0, 0, kernels::RowBlockOverlap::kAuto, 0,
                     {std::nullopt, slabs == "narrow", std::nullopt}});
  }
  if (o.overlap && m.gated) {
    impls.push_back({"mlopt-cublaslt-overlap-on", kernels::MlpImpl::kCublasLt, 0, 0, kernels::RowBlockOverlap::kOn});
    impls.push_back({"mlopt-cublaslt-overlap-off", kernels::MlpImpl::kCublasLt, 0, 0, kernels::RowBlockOverlap::kOff});
    for (int rows : o.row_blocks) {
      impls.push_back({"mlopt-cublaslt-rb" + std::to_string(rows) + "-overlap", kernels::MlpImpl::kCublasLt, rows, 0,
                       kernels::RowBlockOverlap::kOn});
    }
  }
  for (const auto& [name, impl, row_block, lt_algo, overlap, splits, decode] : impls) {
    Variant v;
    v.name = name;
    v.ours = true;
    if (impl == kernels::MlpImpl::kDecode && tokens > 1024) {
      v.error = "not run: the decode path is for few tokens";
      c.variants.push_back(v);
      continue;
    }
    const auto blocks = [tokens](int rows) { return (tokens + rows - 1) / rows; };
    if (overlap != kernels::RowBlockOverlap::kAuto &&
        blocks(row_block > 0 ? row_block : kernels::mlp_default_row_block()) < 2) {
      v.error = "not run: one row block, nothing to overlap";
      c.variants.push_back(v);
      continue;
    }
    if (row_block > 0 && overlap == kernels::RowBlockOverlap::kAuto &&
        blocks(row_block) == blocks(kernels::mlp_default_row_block())) {
      v.error = "not run: as many row blocks as mlopt-cublaslt";
      c.variants.push_back(v);
      continue;
    }
    const bool sm90 = impl == kernels::MlpImpl::kSm90;
    try {
      const Weights sm90_weights = sm90 ? interleaved(m, w) : Weights{};
      auto out = at::empty({tokens, m.d_model}, options);
      auto p = kernel_params(m, sm90 ? sm90_weights : w, x, out, impl);
      p.row_block = row_block;
      p.overlap = overlap;
      p.num_splits = splits;
      if (sm90) {
        p.gate_up = kernels::GateUpPacking::kInterleaved;
        try {
          kernels::mlp_chosen_impl(p);  // throws only where kSm90 cannot run: not a failure of the bench
        } catch (const std::invalid_argument& e) {
          v.error = std::string("not run: ") + e.what();
          c.variants.push_back(v);
          continue;
        }
      }
      const auto sizes = kernels::mlp_workspace_sizes(p);
      v.intermediate_bytes = sizes.h + sizes.scratch;
      v.scratch_bytes = sizes.cublaslt;
      auto workspace = at::empty({static_cast<int64_t>(sizes.total)}, options.dtype(at::kByte));
      // Owns the tensors p points into; forces cuBLASLt's answer only while it runs.
      const int algo = lt_algo;
      const auto launch = [p, out, sm90_weights, workspace, total = sizes.total, stream = b.stream, algo,
                           forced_decode = decode] {
        const ForcedLtAlgo forced(algo);
        const ForcedDecode forced_choices(forced_decode);
        kernels::mlp_forward(p, stream, workspace.data_ptr(), total);
      };
      launch();
      if (reference.defined()) check_against(v, out, reference, m.dtype);
      timed.push_back({c.variants.size(), launch});
    } catch (const std::exception& e) {
      v.error = message_of(e);
      // Fewer heuristic answers than asked for: nothing to time, not a failure.
      if (lt_algo > 0 && v.error.find("heuristic offers") != std::string::npos) v.error = "not run: " + v.error;
      recover();
    }
    c.variants.push_back(v);
  }
  time_in_rounds(b, c, timed, o.rounds);
  return c;
}

void print_header() {
  std::printf("%-11s %6s  %-15s %10s %9s %9s %12s %10s\n", "model", "tokens", "variant", "median ms", "TFLOP/s",
              "speedup", "interm. MiB", "max error");
}

void print_breakdown(const KernelBreakdown& k) {
  if (!k.error.empty()) {
    std::printf("%22s kernels: not traced: %s\n", "", k.error.c_str());
    return;
  }
  std::printf("%22s kernels: %.1f us summed, %.1f us first start to last end\n", "", k.kernel_sum_us, k.span_us);
  for (const auto& t : k.kernels) std::printf("%24s %8.1f us  %.70s\n", "", t.median_us, t.name.c_str());
}

void print_case(const Case& c) {
  const Variant* base = c.find("unfused");
  for (const auto& v : c.variants) {
    const std::string name = v.name == "fused" ? "fused (" + c.auto_impl + ")" : v.name;
    if (!v.error.empty()) {
      std::printf("%-11s %6d  %-15s %s\n", c.model.c_str(), c.tokens, name.c_str(), v.error.c_str());
      continue;
    }
    const double speedup = base ? base->stats.median_ms / v.stats.median_ms : 0;
    std::printf("%-11s %6d  %-15s %10.4f %9.1f %8.2fx %12.1f ", c.model.c_str(), c.tokens, name.c_str(),
                v.stats.median_ms, v.tflops, speedup, double(v.intermediate_bytes) / double(1 << 20));
    if (v.ours && v.max_error >= 0) {
      std::printf("%9.1e%s\n", v.max_error, v.check_ok ? "" : "  MISMATCH");
    } else {
      std::printf("%10s\n", "-");
    }
    if (v.round_medians_ms.size() > 1) {
      std::printf("%22s rounds' medians ms:", "");
      for (double ms : v.round_medians_ms) std::printf(" %.4f", ms);
      std::printf("\n");
    }
    if (v.breakdown) print_breakdown(*v.breakdown);
  }
}

nlohmann::json variant_json(const Variant& v) {
  nlohmann::json j{{"variant", v.name}};
  if (!v.error.empty()) {
    j["error"] = v.error;
    return j;
  }
  j["median_ms"] = v.stats.median_ms;
  j["p10_ms"] = v.stats.p10_ms;
  j["p90_ms"] = v.stats.p90_ms;
  j["tflops"] = v.tflops;
  j["intermediate_bytes"] = v.intermediate_bytes;
  if (v.ours) {
    j["cublaslt_workspace_bytes"] = v.scratch_bytes;
    j["max_relative_error_vs_unfused"] = v.max_error;
    j["check_ok"] = v.check_ok;
  }
  j["samples_ms"] = v.samples_ms;
  j["round_medians_ms"] = v.round_medians_ms;
  if (v.breakdown) {
    nlohmann::json k{{"kernel_sum_us", v.breakdown->kernel_sum_us}, {"span_us", v.breakdown->span_us}};
    if (!v.breakdown->error.empty()) k["error"] = v.breakdown->error;
    k["kernels"] = nlohmann::json::array();
    for (const auto& t : v.breakdown->kernels) k["kernels"].push_back({{"name", t.name}, {"median_us", t.median_us}});
    j["kernels"] = k;
  }
  return j;
}

nlohmann::json targets_json(const std::vector<Case>& cases, const std::string& device) {
  nlohmann::json never_slower = nlohmann::json::array(), speedup = nlohmann::json::array();
  nlohmann::json memory = nlohmann::json::array();
  bool never_slower_met = true, speedup_met = true, memory_met = true;
  std::optional<double> llama_16k_tflops;
  for (const auto& c : cases) {
    const Variant* base = c.find("unfused");
    const Variant* fused = c.find("fused");
    if (!base || !fused) {
      never_slower_met = false;
      never_slower.push_back({{"model", c.model}, {"tokens", c.tokens}, {"met", false}, {"why", "a variant did not run"}});
      continue;
    }
    const double ratio = base->stats.median_ms / fused->stats.median_ms;
    const bool not_slower = fused->stats.median_ms <= base->stats.median_ms;
    never_slower_met = never_slower_met && not_slower;
    never_slower.push_back({{"model", c.model}, {"tokens", c.tokens}, {"speedup", ratio}, {"met", not_slower}});
    if (c.tokens <= 128) {
      speedup_met = speedup_met && ratio >= 1.3;
      speedup.push_back({{"model", c.model}, {"tokens", c.tokens}, {"speedup", ratio}, {"met", ratio >= 1.3}});
    }
    if (c.model == "llama-7b") {
      // The gate and up activations ([tokens, d_ff] each) are not stored.
      const std::size_t gate_up = base->intermediate_bytes / 2;
      const bool met = fused->intermediate_bytes + gate_up <= base->intermediate_bytes;
      memory_met = memory_met && met;
      memory.push_back({{"model", c.model},
                        {"tokens", c.tokens},
                        {"fused_bytes", fused->intermediate_bytes},
                        {"unfused_bytes", base->intermediate_bytes},
                        {"met", met}});
      if (c.tokens == 16384) llama_16k_tflops = fused->tflops;
    }
  }
  nlohmann::json t;
  t["never_slower_than_unfused"] = {{"met", never_slower_met}, {"cases", never_slower}};
  t["at_least_1.3x_faster_at_128_tokens_or_fewer"] = {{"met", speedup_met}, {"cases", speedup}};
  t["intermediates_reduced_by_gate_and_up"] = {{"met", memory_met}, {"cases", memory}};
  const bool h100 = device.find("H100") != std::string::npos;
  t["llama_7b_swiglu_16k_at_least_700_tflops_on_h100"] = {
      {"met", h100 && llama_16k_tflops && *llama_16k_tflops >= 700.0},
      {"tflops", llama_16k_tflops ? nlohmann::json(*llama_16k_tflops) : nlohmann::json(nullptr)},
      {"device", device},
      {"note", h100 ? "" : "the target is stated for an H100; this device is not one"}};
  return t;
}

void print_targets(const nlohmann::json& t) {
  std::printf("\ntargets:\n");
  for (const auto& [name, value] : t.items()) {
    std::printf("  %-52s %s\n", name.c_str(), value["met"].get<bool>() ? "met" : "NOT met");
  }
}

// The command line, declared on `app` (its options write into `o`).
void add_options(CLI::App& app, Options& o) {
  app.add_option("--json", o.json, "Write every measurement and the targets to this JSON file");
  add_timing_options(app, o.iters, o.warmup, "calls per variant", "calls");
  app.add_option("--tokens", o.tokens, "Token counts to run each model at")
      ->delimiter(',')
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  // One name, not a list: it replaces the default of both.
  std::vector<std::string> names;
  for (const Model& m : kModels) names.push_back(m.name);
  app.add_option("--model", o.models, "Run only this model")
      ->expected(1)
      ->check(CLI::IsMember(names))
      ->capture_default_str();
  app.add_flag("--no-l2-flush", o.no_l2_flush, "Do not overwrite the L2 cache before each timed call");
  app.add_flag("--kernels", o.kernels, "Also trace each variant's kernels (CUPTI) after timing it");
  app.add_option("--row-blocks", o.row_blocks,
                 "Gated models: also time the cuBLASLt path storing [gate | up] for at most this many tokens at a "
                 "time (variants mlopt-cublaslt-rbN)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  app.add_option("--rounds", o.rounds,
                 "Time each case's variants in this many interleaved rounds of warm-up + --iters calls (A B C A B C "
                 "...), so that the GPU's clock drift falls on all of them alike; the median is over every round's "
                 "samples")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--overlap", o.overlap,
               "Gated models, more than one row block: also time the cuBLASLt path with its row blocks on two "
               "streams forced on and off (variants mlopt-cublaslt-overlap-on/off, and mlopt-cublaslt-rbN-overlap "
               "for each --row-blocks N)");
  app.add_option("--lt-algos", o.lt_algos,
                 "Also time the cuBLASLt path on cuBLASLt's heuristic answers 1 .. N-1 for both GEMMs (variants "
                 "mlopt-cublaslt-algoI; answer 0 is what runs by default)")
      ->check(CLI::Range(1, 32));
  app.add_option("--decode-splits", o.decode_splits,
                 "Also time the decode path with K split over at most this many blocks of a cluster (MlpParams::"
                 "num_splits; variants mlopt-decode-splitsN)")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  app.add_option("--decode-held", o.decode_held,
                 "Also time the decode path with a small MLP's down projection holding this many steps of weights "
                 "per warp (1 or 3) while it waits for the up projection (variants mlopt-decode-heldN)")
      ->delimiter(',')
      ->check(CLI::IsMember({1, 3}));
  app.add_option("--decode-slabs", o.decode_slabs,
                 "Also time the decode path with the down projection of [in, out] weights in slabs of 128 (wide) or "
                 "64 (narrow) features (variants mlopt-decode-wide, mlopt-decode-narrow)")
      ->delimiter(',')
      ->check(CLI::IsMember({"wide", "narrow"}));
  app.add_option("--decode-up-splits", o.decode_up_splits,
                 "Also time the decode path with the up projection's K split over at most this many blocks of a "
                 "cluster, the down projection's as planned (variants mlopt-decode-up-splitsN)")
      ->delimiter(',')
      ->check(CLI::Range(1, 8));
}

int run(const Options& o) {
  if (kernels::device_count() == 0) throw std::runtime_error("no CUDA device is visible: run this on the GPU machine");
  if (!ops_registered()) throw std::runtime_error("mlopt's operators are not registered");
  const int device = c10::cuda::current_device();
  const auto props = kernels::device_properties(device);
  std::printf("bench_mlp: %s (sm_%d%d, %d SMs), libtorch %s\n", props.name.c_str(), props.compute_major,
              props.compute_minor, props.multiprocessors, TORCH_VERSION);
  const Bench b(c10::cuda::getCurrentCUDAStream(device).stream(), {o.warmup, o.iters}, device, !o.no_l2_flush);
  std::printf("timing: CUDA events around each call, enqueued on a held stream, %d warm-up + %d timed, median; %s; %d round%s per case%s\n",
              o.warmup, o.iters, b.flusher ? "L2 flushed before each call" : "no L2 flush", o.rounds,
              o.rounds == 1 ? "" : "s", o.rounds == 1 ? "" : " (variants interleaved)");
  // An idle GPU sits at low clocks and takes a while to boost: without
  // this, the first case is timed on a slower GPU than the rest.
  constexpr double kWarmUpSeconds = 1.0;
  warm_up_gpu(b.stream, kWarmUpSeconds);
  std::printf("GPU kept busy for %.1f s before the first case (clocks up)\n\n", kWarmUpSeconds);
  g_trace_kernels = o.kernels;
  if (o.kernels) {
    std::printf("--kernels: each variant's kernels are traced (CUPTI) after it is timed; CUPTI stays attached,\n"
                "so host-bound variants time slower from the first trace on: take times from a run without it\n\n");
  }
  at::manual_seed(0);

  std::vector<Case> cases;
  print_header();
  for (const Model& m : kModels) {
    if (std::find(o.models.begin(), o.models.end(), m.name) == o.models.end()) continue;
    const auto options = at::TensorOptions().dtype(m.dtype).device(at::kCUDA, device);
    const int64_t n_up = m.gated ? 2 * int64_t{m.d_ff} : m.d_ff;
    // Weights scaled so that activations stay O(1) (outputs comparable across variants).
    Weights w;
    const double up_scale = 1.0 / std::sqrt(double(m.d_model)), down_scale = 1.0 / std::sqrt(double(m.d_ff));
    w.w_up = (m.in_out ? at::randn({m.d_model, n_up}, options) : at::randn({n_up, m.d_model}, options)) * up_scale;
    w.w_down = (m.in_out ? at::randn({m.d_ff, m.d_model}, options) : at::randn({m.d_model, m.d_ff}, options)) * down_scale;
    if (m.bias) {
      w.b_up = at::randn({n_up}, options) * 0.1;
      w.b_down = at::randn({m.d_model}, options) * 0.1;
    }
    for (int tokens : o.tokens) {
      cases.push_back(run_case(b, m, w, tokens, o));
      print_case(cases.back());
    }
  }

  const auto targets = targets_json(cases, props.name);
  print_targets(targets);
  bool failed = false;
  for (const auto& c : cases)
    for (const auto& v : c.variants) {
      const bool skipped = v.error.rfind("not run:", 0) == 0;
      if (v.ours && ((!v.error.empty() && !skipped) || !v.check_ok)) failed = true;
    }
  if (!o.json.empty()) {
    nlohmann::json doc = bench_json_head("bench_mlp", props, {o.warmup, o.iters}, !o.no_l2_flush);
    doc["torch_version"] = TORCH_VERSION;
    doc["timing"]["rounds"] = o.rounds;  // per case, variants interleaved (time_in_rounds)
    doc["flops_formula"] = "2 * tokens * (d_model * d_ff * (gated ? 2 : 1) + d_ff * d_model)";
    nlohmann::json list = nlohmann::json::array();
    for (const auto& c : cases) {
      nlohmann::json j{{"model", c.model}, {"tokens", c.tokens}, {"flops", c.flops}, {"auto_impl", c.auto_impl}};
      j["variants"] = nlohmann::json::array();
      for (const auto& v : c.variants) j["variants"].push_back(variant_json(v));
      list.push_back(j);
    }
    doc["cases"] = list;
    doc["targets"] = targets;
    write_file_atomically(o.json, doc.dump(2) + "\n");
    std::printf("wrote %s\n", o.json.c_str());
  }
  if (failed) std::printf("FAILED: one of mlopt's variants did not run or disagrees with the unfused output\n");
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace mlopt::bench

int main(int argc, char** argv) {
  mlopt::bench::Options o;
  CLI::App app{"bench_mlp: mlopt::fused_mlp against the unfused libtorch MLP (GPT-2 small, Llama-7B) on one GPU: "
               "time, TFLOP/s and intermediate bytes per variant",
               "bench_mlp"};
  mlopt::bench::add_options(app, o);
  const auto run = [&o] { return mlopt::bench::run(o); };
  const auto describe = [](const std::exception& e) { return mlopt::bench::message_of(e); };
  return mlopt::bench::bench_main(app, argc, argv, run, describe);
}
