// bench_attention: mlopt's attention kernels against libtorch's SDPA backends
// (flash, cuDNN, memory-efficient) in one process on the same inputs.
//
//   prefill: the FlashAttention-3 paper's setting: bf16, 16k tokens in total
//            (batch = 16384 / seq), hidden 2048 (heads = 2048 / head_dim),
//            seq 512 ... 16k, head_dim 64 and 128, causal and not; TFLOP/s.
//   decode:  batch 8, 32 heads, one query over a KV length of 8192, head_dim
//            128, fp16 and bf16; GB/s against the device's measured copy
//            bandwidth.
//
// Prints a table, writes JSON (--json), and states whether the targets were
// met. Exit status 1 when one of mlopt's outputs disagrees with the reference
// or mlopt's kernel fails to run, or on an unexpected error; 2 on bad usage.
#include <CLI/CLI.hpp>
#include <ATen/ATen.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "attention_check.h"
#include "attention_impls.h"
#include "attention_report.h"
#include "bench_timing.h"
#include "mlopt/core/atomic_file.h"
#include "mlopt/core/environment.h"
#include "mlopt/kernels/cuda_check.h"
#include "mlopt/kernels/device_query.h"

#if TORCH_VERSION_MAJOR < 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR < 5)
#error "bench_attention calls the SDPA backend ops with the signatures of libtorch >= 2.5"
#endif

namespace mlopt::bench {
namespace {

// The FlashAttention-3 paper's benchmark setting.
constexpr int kTotalTokens = 16384;
constexpr int kHidden = 2048;
// Decode: a KV cache of 8192 tokens, one new query per sequence.
constexpr int kDecodeBatch = 8, kDecodeHeads = 32, kDecodeKvLen = 8192, kDecodeHeadDim = 128;
constexpr std::size_t kCopyBytes = std::size_t{1} << 30;

struct Options {
  std::string json;
  std::vector<std::string> cases = {"prefill", "decode"};
  int iters = 30, warmup = 10;
  std::vector<int> seqs = {512, 1024, 2048, 4096, 8192, 16384};
  std::vector<int> head_dims = {64, 128};
  bool quick = false, all_impls = false, no_l2_flush = false;
  // The slow first kernel is a cross-check, timed at a few sizes only.
  std::vector<int> wmma_seqs = {1024, 4096};
};

bool wanted(const Options& o, const std::string& kind) {
  return std::find(o.cases.begin(), o.cases.end(), kind) != o.cases.end();
}

// The CUDA context is unusable (a sticky error): no later case can run.
class ContextLost : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string message_of(const std::exception& e) {
  // c10::Error's what() carries a C++ backtrace; the message alone is enough.
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) return c10_error->what_without_backtrace();
  return e.what();
}

// After any failure: give cached blocks back (an out-of-memory failure left
// them to the next case) and stop the run if the context is gone.
void recover_after_error() {
  const std::string sticky = clear_cuda_error();
  if (!sticky.empty()) throw ContextLost("CUDA context lost (" + sticky + "): the remaining cases cannot run");
  c10::cuda::CUDACachingAllocator::emptyCache();
}

// The same where the failure is already being handled: appends the loss to
// `error` and returns true instead of throwing.
bool context_lost_after(std::string& error) {
  try {
    recover_after_error();
    return false;
  } catch (const ContextLost& lost) {
    error += std::string("; ") + lost.what();
    return true;
  }
}

// Runs every implementation on `in`: the first output of the reference
// (torch-flash, else another torch backend) is what the others are checked
// against; each is then timed. A failing implementation is recorded with its
// message and the case goes on.
void run_case(CaseResult& c, const AttentionInputs& in, const std::vector<std::string>& impls, const Bench& b) {
  at::Tensor ref;
  for (const char* name : {"torch-flash", "torch-efficient", "torch-cudnn"}) {
    try {
      ref = make_attention_runner(name, in)();
      MLOPT_CUDA_CHECK(cudaStreamSynchronize(b.stream));
      c.reference = name;
      break;
    } catch (const std::exception&) {
      ref = at::Tensor();
      recover_after_error();  // the same failure is recorded below, when the backend's turn comes
    }
  }
  const Tolerance tol = tolerance_for(in.q.scalar_type());
  for (const auto& name : impls) {
    ImplResult r;
    r.impl = name;
    bool failed = false;
    try {
      r.workspace_bytes = attention_runner_workspace_bytes(name, in);
      const auto run = make_attention_runner(name, in);
      at::Tensor out = run();
      MLOPT_CUDA_CHECK(cudaStreamSynchronize(b.stream));  // errors of this call surface here, not in the timing
      if (ref.defined() && name != c.reference) r.check = compare_outputs(out, ref, tol);
      out = at::Tensor();
      r.samples_ms = b.time([&run] { (void)run(); });
      r.stats = summarize(r.samples_ms);
      r.available = true;
    } catch (const std::exception& e) {
      r.error = message_of(e);
      failed = true;
    }
    c.results.push_back(std::move(r));
    if (failed) recover_after_error();
  }
}

std::vector<CaseResult> run_prefill(const Options& o, const Bench& b, const std::optional<CopyBandwidth>& copy,
                                    bool& context_lost) {
  std::vector<CaseResult> cases;
  // One set of inputs for the whole grid: every case has 16k tokens x 2048
  // hidden, so each is a view [batch, heads, seq, head_dim] of the same
  // contiguous buffers (SDPA's layout, contiguous per head).
  at::Tensor q_all, k_all, v_all;
  const auto options = at::TensorOptions().dtype(at::kBFloat16).device(at::kCUDA, c10::cuda::current_device());
  try {
    q_all = at::randn({int64_t{kTotalTokens} * kHidden}, options);
    k_all = at::randn({int64_t{kTotalTokens} * kHidden}, options);
    v_all = at::randn({int64_t{kTotalTokens} * kHidden}, options);
  } catch (const std::exception& e) {
    CaseResult c;
    c.kind = "prefill";
    c.dtype = "bf16";
    c.error = "could not allocate the inputs: " + message_of(e);
    context_lost = context_lost_after(c.error);
    print_case(c, copy);
    cases.push_back(std::move(c));
    return cases;
  }
  for (int seq : o.seqs) {
    for (int head_dim : o.head_dims) {
      for (bool causal : {false, true}) {
        CaseResult c;
        c.kind = "prefill";
        c.dtype = "bf16";
        c.batch = kTotalTokens / seq;
        c.heads = kHidden / head_dim;
        c.q_len = c.kv_len = seq;
        c.head_dim = head_dim;
        c.causal = causal;
        const double bhsd = double(c.batch) * c.heads * seq * head_dim;
        // FlashAttention's convention: two matmuls of 2 * seq * seq * d
        // each per head; causal does half the work.
        c.flops = 4.0 * bhsd * seq / (causal ? 2.0 : 1.0);
        c.bytes = 4.0 * bhsd * 2;  // q, k, v, out in bf16
        const int64_t n = int64_t{c.batch} * c.heads * seq * head_dim;
        const std::vector<int64_t> shape = {c.batch, c.heads, seq, head_dim};
        AttentionInputs in{q_all.narrow(0, 0, n).view(shape), k_all.narrow(0, 0, n).view(shape),
                           v_all.narrow(0, 0, n).view(shape), causal, 1.0 / std::sqrt(double(head_dim))};
        // mlopt-auto (what users get: the Hopper kernel on a cc 9.0 GPU)
        // beside the portable mma.sync kernel.
        std::vector<std::string> impls = {"mlopt-auto", "mlopt-mma"};
        if (o.all_impls || std::find(o.wmma_seqs.begin(), o.wmma_seqs.end(), seq) != o.wmma_seqs.end())
          impls.push_back("mlopt-wmma");
        impls.insert(impls.end(), {"torch-flash", "torch-cudnn", "torch-efficient"});
        try {
          run_case(c, in, impls, b);
        } catch (const ContextLost& e) {
          c.error = e.what();
          context_lost = true;
        }
        print_case(c, copy);
        cases.push_back(std::move(c));
        if (context_lost) return cases;
      }
    }
  }
  return cases;
}

std::vector<CaseResult> run_decode(const Bench& b, const std::optional<CopyBandwidth>& copy, bool& context_lost) {
  std::vector<CaseResult> cases;
  for (const auto dtype : {at::kHalf, at::kBFloat16}) {
    CaseResult c;
    c.kind = "decode";
    c.dtype = dtype == at::kHalf ? "fp16" : "bf16";
    c.batch = kDecodeBatch;
    c.heads = kDecodeHeads;
    c.q_len = 1;
    c.kv_len = kDecodeKvLen;
    c.head_dim = kDecodeHeadDim;
    const double q_elems = double(c.batch) * c.heads * c.q_len * c.head_dim;
    const double kv_elems = double(c.batch) * c.heads * c.kv_len * c.head_dim;
    c.flops = 4.0 * q_elems * c.kv_len;
    c.bytes = (2 * q_elems + 2 * kv_elems) * 2;  // q + out, k + v; 2-byte elements
    try {
      const auto options = at::TensorOptions().dtype(dtype).device(at::kCUDA, c10::cuda::current_device());
      AttentionInputs in{at::randn({c.batch, c.heads, c.q_len, c.head_dim}, options),
                         at::randn({c.batch, c.heads, c.kv_len, c.head_dim}, options),
                         at::randn({c.batch, c.heads, c.kv_len, c.head_dim}, options), false,
                         1.0 / std::sqrt(double(c.head_dim))};
      // mlopt-auto: attention_forward picks the split-KV decode path for one
      // query row over a long KV cache.
      run_case(c, in, {"mlopt-auto", "torch-flash", "torch-cudnn", "torch-efficient"}, b);
    } catch (const ContextLost& e) {
      c.error = e.what();
      context_lost = true;
    } catch (const std::exception& e) {
      c.error = "could not allocate the inputs: " + message_of(e);
      context_lost = context_lost_after(c.error);
    }
    print_case(c, copy);
    cases.push_back(std::move(c));
    if (context_lost) break;
  }
  return cases;
}

std::string version_text(int v) {  // CUDA's 1000 * major + 10 * minor
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

Environment environment(int device) {
  Environment env;
  const auto props = kernels::device_properties(device);
  env.device = props.name;
  env.compute_capability = std::to_string(props.compute_major) + "." + std::to_string(props.compute_minor);
  env.multiprocessors = props.multiprocessors;
  env.memory_gib = static_cast<double>(props.global_memory_bytes) / double(1 << 30);
  env.date = utc_timestamp();
  env.torch_version = TORCH_VERSION;
  int runtime = 0, driver = 0;
  MLOPT_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  MLOPT_CUDA_CHECK(cudaDriverGetVersion(&driver));
  env.cuda_runtime = version_text(runtime);
  env.cuda_driver = version_text(driver);
  try {
    env.cudnn = std::to_string(at::detail::getCUDAHooks().versionCuDNN());
  } catch (const std::exception&) {
    env.cudnn = "";  // this libtorch was built without cuDNN
  }
  return env;
}

int run(const Options& o) {
  if (kernels::device_count() == 0) throw std::runtime_error("no CUDA device is visible: run this on the GPU machine");
  const int device = c10::cuda::current_device();
  const Environment env = environment(device);
  std::printf("bench_attention: %s (sm_%s, %d SMs), libtorch %s, CUDA runtime %s, driver %s, cuDNN %s\n",
              env.device.c_str(), env.compute_capability.c_str(), env.multiprocessors, env.torch_version.c_str(),
              env.cuda_runtime.c_str(), env.cuda_driver.c_str(), env.cudnn.empty() ? "none" : env.cudnn.c_str());

  // libtorch's current stream: its backends enqueue there, so ours and the
  // timing events go there too.
  const Bench b(c10::cuda::getCurrentCUDAStream(device).stream(), {o.warmup, o.iters}, device, !o.no_l2_flush);
  const L2Flusher* flusher = b.flusher.get();
  const char* auto_prefill = mlopt_sm90_available() ? "mlopt-sm90 (Hopper: wgmma, TMA)" : "mlopt-mma (mma.sync)";
  std::printf("mlopt-auto prefill runs %s on this device\n", auto_prefill);
  std::printf("timing: CUDA events around each call, %d warm-up + %d timed, median; %s\n", o.warmup, o.iters,
              flusher ? ("L2 flushed before each call (" + std::to_string(flusher->bytes() >> 20) + " MiB memset)").c_str()
                      : "no L2 flush");

  // First, before libtorch's allocator caches memory for the cases.
  std::optional<CopyBandwidth> copy;
  std::string copy_error;
  try {
    copy = measure_copy_bandwidth(b.stream, kCopyBytes, {std::max(o.warmup, 3), std::max(o.iters, 10)});
    std::printf("copy bandwidth: %zu MiB device-to-device, median %.3f ms: %.0f GB/s (read + write)\n\n",
                copy->bytes >> 20, copy->median_ms, copy->gbps);
  } catch (const std::exception& e) {
    copy_error = message_of(e);
    if (context_lost_after(copy_error)) throw std::runtime_error("copy bandwidth: " + copy_error);
    std::printf("copy bandwidth: not measured: %s\n\n", copy_error.c_str());
  }

  at::manual_seed(0);
  print_table_header();
  bool context_lost = false;
  std::vector<CaseResult> cases;
  if (wanted(o, "prefill")) cases = run_prefill(o, b, copy, context_lost);
  if (wanted(o, "decode") && !context_lost) {
    auto decode = run_decode(b, copy, context_lost);
    cases.insert(cases.end(), decode.begin(), decode.end());
  }

  bool failed = context_lost;
  for (const auto& c : cases) {
    for (const auto& r : c.results) failed = failed || mlopt_failed(r);
  }
  const nlohmann::json targets = targets_json(cases, copy);
  print_targets(targets);

  if (!o.json.empty()) {
    nlohmann::json doc = environment_json(env);
    doc["benchmark"] = "attention";
    doc["settings"] = {{"auto_prefill_kernel", auto_prefill},
                       {"cases", o.cases},
                       {"warmup", o.warmup},
                       {"iters", o.iters},
                       {"statistic", "median of per-call CUDA event times"},
                       {"l2_flush_bytes", flusher ? flusher->bytes() : 0},
                       {"prefill_total_tokens", kTotalTokens},
                       {"prefill_hidden", kHidden},
                       {"prefill_dtype", "bf16"},
                       {"seqs", o.seqs},
                       {"head_dims", o.head_dims},
                       {"wmma_seqs", o.all_impls ? nlohmann::json("all") : nlohmann::json(o.wmma_seqs)},
                       {"layout", "q, k, v, out: [batch, heads, seq, head_dim], contiguous"},
                       {"flops", "4 * batch * heads * q_len * kv_len * head_dim, halved when causal"},
                       {"decode_bytes", "q + k + v + out"}};
    doc["copy_bandwidth"] = copy ? copy_json(*copy) : nlohmann::json({{"error", copy_error}});
    nlohmann::json jcases = nlohmann::json::array();
    for (const auto& c : cases) jcases.push_back(case_json(c, copy));
    doc["cases"] = jcases;
    doc["targets"] = targets;
    doc["checks_passed"] = !failed;
    write_file_atomically(o.json, doc.dump(2) + "\n");
    std::printf("wrote %s\n", o.json.c_str());
  }
  if (failed) std::fprintf(stderr, "bench_attention: FAILED: an mlopt output disagreed with the reference, an mlopt kernel failed to run, or the CUDA context was lost (see the table)\n");
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace mlopt::bench

int main(int argc, char** argv) {
  using mlopt::bench::Options;
  Options o;
  CLI::App app{"bench_attention: mlopt's attention kernels against libtorch's SDPA backends (flash, cuDNN, "
               "memory-efficient): prefill TFLOP/s at 16k tokens x 2048 hidden, decode GB/s against the copy "
               "bandwidth",
               "bench_attention"};
  app.add_option("--json", o.json, "Write every measurement, the settings and the targets to this JSON file");
  app.add_option("--cases", o.cases, "Which parts to run")
      ->delimiter(',')
      ->check(CLI::IsMember(std::vector<std::string>{"prefill", "decode"}))
      ->capture_default_str();
  auto* iters = app.add_option("--iters", o.iters, "Timed calls per implementation (the median is reported)")
                    ->check(CLI::PositiveNumber)
                    ->capture_default_str();
  auto* warmup = app.add_option("--warmup", o.warmup, "Untimed calls before them")
                     ->check(CLI::NonNegativeNumber)
                     ->capture_default_str();
  auto* seqs = app.add_option("--seqs", o.seqs, "Prefill sequence lengths (batch = 16384 / seq)")
                   ->delimiter(',')
                   ->check(CLI::Range(1, 16384))
                   ->capture_default_str();
  // The head dims mlopt's kernels support (attention_head_dim_supported).
  app.add_option("--head-dims", o.head_dims, "Prefill head dims (heads = 2048 / head_dim)")
      ->delimiter(',')
      ->check(CLI::IsMember(std::vector<int>{64, 128}))
      ->capture_default_str();
  app.add_flag("--quick", o.quick, "A short run: seq 1024 and 8192, 2 warm-up + 5 timed calls (explicit options win)");
  app.add_flag("--all-impls", o.all_impls, "Also time mlopt-wmma at every prefill size (default: seq 1024 and 4096)");
  app.add_flag("--no-l2-flush", o.no_l2_flush, "Do not overwrite the L2 cache before each timed call");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (o.quick) {
    if (seqs->count() == 0) o.seqs = {1024, 8192};
    if (iters->count() == 0) o.iters = 5;
    if (warmup->count() == 0) o.warmup = 2;
  }
  try {
    return mlopt::bench::run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_attention: error: %s\n", mlopt::bench::message_of(e).c_str());
    return 1;
  }
}
