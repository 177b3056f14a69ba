// bench_ring_attention: ring attention (mlopt::parallel::ring_attention_cuda)
// over every visible GPU through NCCL (NcclGroup: one rank per GPU, one
// thread each), causal bf16, head_dim 128, 32 heads (MHA), batch 1, the
// sequence from 8k tokens doubling up to --max-seq (default 256k) where the
// ranks' memory holds it. One GPU still runs the ring's code path (world 1,
// no exchange).
//
// Per sequence length: the ring's time per call (CUDA events around each
// call on every rank's stream; per iteration the slowest rank; median over
// iterations), its TFLOP/s (causal: 2 B H S^2 D, all GPUs together), the
// single-GPU kernel on the whole sequence (attention_forward on GPU 0, same
// run; skipped, and said so, when the sequence does not fit one GPU) and
// efficiency = single time / (world x ring time): 1 is perfect scaling.
// Beside it the communication model: bytes each rank sends per call
// ((world - 1) steps x its K and V block).
//
// Exit 0 and a line saying why when NCCL is not available; 1 when a run
// fails; 2 on bad usage. --json FILE writes the table with the device and date.
#include <CLI/CLI.hpp>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_json.h"
#include "bench_main.h"
#include "bench_timing.h"
#include "mlopt/core/atomic_file.h"
#include "mlopt/core/stats.h"
#include "mlopt/kernels/attention.h"
#include "mlopt/kernels/cuda_check.h"
#include "mlopt/kernels/cuda_event.h"
#include "mlopt/kernels/device_query.h"
#include "mlopt/kernels/half_bits.h"
#include "mlopt/parallel/nccl.h"
#include "mlopt/parallel/ring_attention.h"
#include "mlopt/parallel/ring_attention_cuda.h"

namespace mlopt::bench {
namespace {

constexpr int kHeads = 32;
constexpr int kHeadDim = 128;
constexpr int64_t kMinSeq = 8192;

struct Options {
  std::string json;
  int iters = 10, warmup = 3;
  int64_t max_seq = 262144;
  int gpus = 0;  // 0: every visible GPU
};

struct Row {
  int64_t seq = 0;
  double ring_ms = 0, ring_tflops = 0;
  double single_ms = -1, single_tflops = 0, efficiency = 0;  // single_ms < 0: not run
  std::string single_note;
  parallel::RingCommunicationModel comm;
  std::size_t workspace_bytes = 0;
  std::string error;
};

parallel::RingAttentionShape shape_for(int64_t seq) {
  parallel::RingAttentionShape s;
  s.batch = 1;
  s.q_heads = s.kv_heads = kHeads;
  s.seq_len = seq;
  s.head_dim = kHeadDim;
  s.causal = true;
  s.softmax_scale = 1.0f / std::sqrt(float(kHeadDim));
  s.dtype = kernels::AttentionDType::kBFloat16;
  return s;
}

// Causal attention's useful work: half of 4 B H S^2 D (QK^T and PV).
double causal_flops(int64_t seq) { return 2.0 * kHeads * double(seq) * double(seq) * kHeadDim; }

// N(0, 1) bf16 values (fixed seed) tiled over a device buffer: real-looking
// data without generating gigabytes on the host.
class Pattern {
 public:
  Pattern() : bits_(std::size_t{1} << 22) {
    uint32_t s = 12345u;
    for (auto& b : bits_) {
      float sum = 0;  // Irwin-Hall: sum of 12 uniforms - 6 ~ N(0, 1)
      for (int i = 0; i < 12; ++i) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        sum += static_cast<float>(s >> 8) / 16777216.0f;
      }
      b = kernels::float_to_bf16_bits(sum - 6.0f);
    }
  }
  void fill(void* dst, std::size_t bytes, cudaStream_t stream) const {
    const std::size_t chunk = bits_.size() * 2;
    for (std::size_t at = 0; at < bytes; at += chunk) {
      MLOPT_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(dst) + at, bits_.data(), std::min(chunk, bytes - at),
                                       cudaMemcpyHostToDevice, stream));
    }
  }

 private:
  std::vector<uint16_t> bits_;
};

std::size_t free_bytes(int device) {
  MLOPT_CUDA_CHECK(cudaSetDevice(device));
  std::size_t free = 0, total = 0;
  MLOPT_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  return free;
}

// Local q, k, v, out and the workspace of one rank; 5% headroom for NCCL and the allocator.
std::size_t ring_bytes_per_rank(const parallel::RingAttentionShape& s, int world) {
  const auto local = static_cast<std::size_t>(parallel::split_sequence(s.seq_len, world, true).local_len());
  const std::size_t tensor = std::size_t(s.batch) * kHeads * local * kHeadDim * 2;
  return static_cast<std::size_t>(1.05 * double(4 * tensor + parallel::ring_attention_cuda_workspace_bytes(s, world)));
}

// The ring on every rank; per iteration the slowest rank's time.
std::vector<double> time_ring(parallel::NcclGroup& group, const parallel::RingAttentionShape& s, const Options& o,
                              const Pattern& pattern) {
  const int world = group.size();
  std::vector<std::vector<double>> per_rank(static_cast<std::size_t>(world));
  group.run([&](parallel::Communicator& comm) {
    const auto split = parallel::split_sequence(s.seq_len, world, s.causal);
    const std::size_t q_bytes = std::size_t(s.batch) * kHeads * split.local_len() * kHeadDim * 2;
    const std::size_t ws_bytes = parallel::ring_attention_cuda_workspace_bytes(s, world);
    kernels::CudaStream stream;
    DeviceBuffer q(q_bytes), k(q_bytes), v(q_bytes), out(q_bytes), ws(ws_bytes);
    pattern.fill(q.get(), q_bytes, stream.get());
    pattern.fill(k.get(), q_bytes, stream.get());
    pattern.fill(v.get(), q_bytes, stream.get());
    stream.synchronize();
    per_rank[comm.rank()] = time_on_stream(
        stream.get(),
        [&] {
          parallel::ring_attention_cuda(comm, s, q.get(), k.get(), v.get(), out.get(), stream.get(), ws.get(),
                                        ws.bytes());
        },
        {o.warmup, o.iters}, nullptr);
    stream.synchronize();
  });
  std::vector<double> slowest(per_rank[0].size(), 0.0);
  for (const auto& samples : per_rank)
    for (std::size_t i = 0; i < samples.size() && i < slowest.size(); ++i) slowest[i] = std::max(slowest[i], samples[i]);
  return slowest;
}

// attention_forward over the whole sequence on GPU 0.
std::vector<double> time_single(const parallel::RingAttentionShape& s, const Options& o, const Pattern& pattern) {
  MLOPT_CUDA_CHECK(cudaSetDevice(0));
  const std::size_t bytes = std::size_t(s.batch) * kHeads * std::size_t(s.seq_len) * kHeadDim * 2;
  kernels::CudaStream stream;
  DeviceBuffer q(bytes), k(bytes), v(bytes), out(bytes);
  pattern.fill(q.get(), bytes, stream.get());
  pattern.fill(k.get(), bytes, stream.get());
  pattern.fill(v.get(), bytes, stream.get());
  kernels::AttentionParams p;
  p.q = q.get();
  p.k = k.get();
  p.v = v.get();
  p.out = out.get();
  p.q_strides = p.k_strides = p.v_strides = p.out_strides =
      kernels::bhsd_strides(kHeads, static_cast<int>(s.seq_len), kHeadDim);
  p.batch = s.batch;
  p.q_heads = p.kv_heads = kHeads;
  p.q_len = p.kv_len = static_cast<int>(s.seq_len);
  p.head_dim = kHeadDim;
  p.softmax_scale = s.softmax_scale;
  p.causal = true;
  p.dtype = s.dtype;
  const auto samples =
      time_on_stream(stream.get(), [&] { kernels::attention_forward(p, stream.get()); }, {o.warmup, o.iters}, nullptr);
  stream.synchronize();
  return samples;
}

// The command line, declared on `app` (its options write into `o`).
void add_options(CLI::App& app, Options& o) {
  app.add_option("--json", o.json, "Write the table with the device and date to this JSON file");
  add_timing_options(app, o.iters, o.warmup, "calls per sequence length", "calls");
  // At least kMinSeq: the first length, doubled up to this.
  app.add_option("--max-seq", o.max_seq, "Longest sequence (tokens) to run")
      ->check(CLI::Range(kMinSeq, std::numeric_limits<int64_t>::max()))
      ->capture_default_str();
  app.add_option("--gpus", o.gpus, "GPUs to run on, one rank each (0 or more than are visible: every visible one)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

int run(const Options& o) {
  const int visible = kernels::device_count();
  if (visible == 0) throw std::runtime_error("no CUDA device is visible: run this on the GPU machine");
  if (!parallel::nccl_available()) {
    std::printf("bench_ring_attention: this build has no NCCL (nccl.h/libnccl not found at configure time); "
                "nothing to measure\n");
    return 0;
  }
  const int world = o.gpus == 0 ? visible : std::min(o.gpus, visible);
  std::vector<int> devices;
  for (int d = 0; d < world; ++d) devices.push_back(d);
  std::unique_ptr<parallel::NcclGroup> group;
  try {
    group = std::make_unique<parallel::NcclGroup>(devices);
  } catch (const parallel::NcclError& e) {
    std::printf("bench_ring_attention: NCCL is not usable here: %s\n", e.what());
    return 0;
  }
  const auto props = kernels::device_properties(0);
  std::printf("bench_ring_attention: %d x %s (sm_%d%d), causal bf16, %d heads, head_dim %d, batch 1\n", world,
              props.name.c_str(), props.compute_major, props.compute_minor, kHeads, kHeadDim);
  std::printf("timing: CUDA events around each call on every rank, %d warm-up + %d timed, median of the slowest "
              "rank per call; no L2 flush (GB-sized working sets)\n\n",
              o.warmup, o.iters);
  std::printf("%8s %10s %9s %10s %9s %7s %12s %12s\n", "seq", "ring ms", "TFLOP/s", "1-GPU ms", "TFLOP/s", "eff.",
              "sent/rank", "per step");

  const Pattern pattern;
  std::vector<Row> rows;
  bool failed = false;
  for (int64_t seq = kMinSeq; seq <= o.max_seq; seq *= 2) {
    Row r;
    r.seq = seq;
    const auto s = shape_for(seq);
    try {
      r.comm = parallel::ring_attention_communication(s, world);
      r.workspace_bytes = parallel::ring_attention_cuda_workspace_bytes(s, world);
      const std::size_t need = ring_bytes_per_rank(s, world);
      bool fits = true;
      for (int d : devices) fits = fits && free_bytes(d) >= need;
      if (!fits) {
        std::printf("%8lld: the ring needs %.1f GB per GPU, more than is free; stopping here\n",
                    static_cast<long long>(seq), need / 1e9);
        break;
      }
      const double flops = causal_flops(seq);
      r.ring_ms = summarize(time_ring(*group, s, o, pattern)).median_ms;
      r.ring_tflops = flops / (r.ring_ms * 1e-3) / 1e12;
      const std::size_t single_need =
          static_cast<std::size_t>(1.05 * 4.0 * double(kHeads) * double(seq) * kHeadDim * 2);
      if (seq > INT32_MAX) {
        r.single_note = "the sequence exceeds the kernel's int lengths";
      } else if (free_bytes(0) < single_need) {
        r.single_note = "the whole sequence (" + std::to_string(single_need / 1000000000) + " GB) does not fit one GPU";
      } else {
        r.single_ms = summarize(time_single(s, o, pattern)).median_ms;
        r.single_tflops = flops / (r.single_ms * 1e-3) / 1e12;
        r.efficiency = r.single_ms / (world * r.ring_ms);
      }
    } catch (const std::exception& e) {
      r.error = e.what();
      failed = true;
    }
    if (!r.error.empty()) {
      std::printf("%8lld failed: %s\n", static_cast<long long>(seq), r.error.c_str());
      rows.push_back(r);
      break;  // a failed NCCL group cannot run again
    }
    char single[64], eff[16];
    if (r.single_ms >= 0) {
      std::snprintf(single, sizeof single, "%10.3f %9.1f", r.single_ms, r.single_tflops);
      std::snprintf(eff, sizeof eff, "%7.3f", r.efficiency);
    } else {
      std::snprintf(single, sizeof single, "%10s %9s", "-", "-");
      std::snprintf(eff, sizeof eff, "%7s", "-");
    }
    std::printf("%8lld %10.3f %9.1f %s %s %9.3f GB %9.1f MB%s%s\n", static_cast<long long>(seq), r.ring_ms,
                r.ring_tflops, single, eff, r.comm.bytes_sent_per_rank / 1e9, r.comm.bytes_per_step / 1e6,
                r.single_note.empty() ? "" : "  1-GPU skipped: ", r.single_note.c_str());
    rows.push_back(r);
  }

  if (!o.json.empty()) {
    nlohmann::json doc = bench_json_head("bench_ring_attention", props, {o.warmup, o.iters}, false);
    doc["world"] = world;
    nlohmann::json gpus = nlohmann::json::array();
    for (int d : devices) gpus.push_back(kernels::device_properties(d).name);
    doc["gpus"] = gpus;
    doc["shape"] = {{"batch", 1}, {"heads", kHeads}, {"kv_heads", kHeads}, {"head_dim", kHeadDim},
                    {"dtype", "bf16"}, {"causal", true}, {"split", "zigzag"}};
    doc["flops_formula"] = "2 * heads * seq^2 * head_dim (causal half of 4 B H S^2 D)";
    doc["efficiency_formula"] = "single-GPU ms / (world * ring ms)";
    doc["communication_model"] = "bytes sent per rank per call = (world - 1) * (K + V of one local block)";
    nlohmann::json rows_json = nlohmann::json::array();
    for (const Row& r : rows) {
      nlohmann::json j{{"seq", r.seq},
                       {"ring_ms", r.ring_ms},
                       {"ring_tflops", r.ring_tflops},
                       {"comm_steps", r.comm.steps},
                       {"comm_bytes_per_step", r.comm.bytes_per_step},
                       {"comm_bytes_sent_per_rank", r.comm.bytes_sent_per_rank},
                       {"workspace_bytes_per_rank", r.workspace_bytes}};
      if (r.single_ms >= 0) {
        j["single_gpu_ms"] = r.single_ms;
        j["single_gpu_tflops"] = r.single_tflops;
        j["efficiency"] = r.efficiency;
      } else if (!r.single_note.empty()) {
        j["single_gpu_skipped"] = r.single_note;
      }
      if (!r.error.empty()) j["error"] = r.error;
      rows_json.push_back(j);
    }
    doc["rows"] = rows_json;
    write_file_atomically(o.json, doc.dump(2) + "\n");
    std::printf("wrote %s\n", o.json.c_str());
  }
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace mlopt::bench

int main(int argc, char** argv) {
  mlopt::bench::Options o;
  CLI::App app{"bench_ring_attention: ring attention over the visible GPUs (NCCL) against the single-GPU kernel on "
               "the whole sequence: causal bf16, 32 heads, head_dim 128, the sequence from 8k tokens doubling",
               "bench_ring_attention"};
  mlopt::bench::add_options(app, o);
  const auto run = [&o] { return mlopt::bench::run(o); };
  return mlopt::bench::bench_main(app, argc, argv, run);
}
