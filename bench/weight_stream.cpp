// bench_weight_stream: how fast this GPU reads a decode MLP's weights, by
// access pattern. A projection at 1-16 tokens is bound by reading its
// weights once, so this is the ceiling of mlopt's decode path
// (MlpImpl::kDecode): Llama-7B's gate/up weights (22016 x 4096 bf16, 180
// MB), its down projection's (4096 x 11008, 90 MB), both as one 270 MB
// matrix (the floor of the whole MLP) and GPT-2 small's up
// projection (Conv1D [768, 3072] fp16, 4.7 MB) and both of its projections
// (9.4 MB), each read
//
//   empty-xN        (no weights) N dependent launches of an empty kernel:
//                   the timed call's floor before any byte is read
//   barrier-xN      (no weights) one cooperative launch, one block per SM,
//                   through N grid-wide barriers
//   one-kernel-skeleton-mN
//                   GPT-2 small's MLP at N tokens as one kernel with no
//                   arithmetic: every load, store and grid barrier of that
//                   design (stream::MlpSkeleton), its floor
//   copy            cudaMemcpyAsync of the same bytes (2 x bytes moved)
//   flat-uN         one array, 16 bytes per lane, N loads in flight per thread
//   decode-rows     the decode kernel's [out, in] loads (16 rows x 256 bytes
//                   per warp step; weight_stream_kernels.h)
//   bulk-RxS-xT     persistent blocks, cp.async.bulk of R rows x S bytes
//                   per stage into T shared-memory stages, each block a
//                   contiguous run of stages (bulk-rr-: every SM-count-th)
//
// after an L2 flush, timed with CUDA events (median); prints GB/s (1e9
// bytes read per second) and writes JSON with --json FILE. CUDA runtime
// only; the bulk patterns need compute capability 9.0.
#include <CLI/CLI.hpp>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_json.h"
#include "bench_main.h"
#include "bench_timing.h"
#include "mlopt/core/atomic_file.h"
#include "mlopt/core/stats.h"
#include "mlopt/kernels/cuda_check.h"
#include "mlopt/kernels/cuda_event.h"
#include "mlopt/kernels/device_query.h"
#include "weight_stream_kernels.h"

namespace mlopt::bench {
namespace {

struct Shape {
  const char* name;
  int64_t rows, row_bytes;
};
const Shape kShapes[] = {
    // Both projections' weights as one matrix: the fewest bytes a whole
    // Llama-7B MLP at 1-16 tokens reads, in one pass with no boundary.
    {"llama-7b-mlp", 22016 + 11008, 4096 * 2},
    {"llama-7b-gate-up", 22016, 4096 * 2},
    {"llama-7b-down", 4096, 11008 * 2},
    {"gpt2-small-up", 768, 3072 * 2},
    // Both of GPT-2 small's projections (2 x 4.7 MB): what one kernel
    // requesting all its weights at once would read.
    {"gpt2-small-mlp", 2 * 768, 3072 * 2},
};

struct Pattern {
  std::string name;
  std::function<void(const stream::Matrix&, uint32_t*, cudaStream_t)> read;
};

std::vector<Pattern> patterns(int sm_count, bool hopper) {
  std::vector<Pattern> p;
  for (int loads : {4, 8}) {
    for (int blocks : {4, 8}) {
      p.push_back({"flat-u" + std::to_string(loads) + "-b" + std::to_string(blocks),
                   [=](const stream::Matrix& m, uint32_t* sink, cudaStream_t s) {
                     stream::read_flat(m, loads, blocks, sm_count, sink, s);
                   }});
    }
  }
  p.push_back({"decode-rows", [](const stream::Matrix& m, uint32_t* sink, cudaStream_t s) {
                 stream::read_decode_rows(m, sink, s);
               }});
  if (!hopper) return p;
  struct Bulk {
    int rows, segment, stages;
    bool interleaved;
  };
  for (const Bulk b : {Bulk{1, 16384, 8, false}, Bulk{16, 2048, 6, false}, Bulk{8, 4096, 6, false},
                       Bulk{1, 8192, 16, true}, Bulk{1, 16384, 8, true}, Bulk{1, 32768, 6, true},
                       Bulk{16, 1024, 8, true}, Bulk{16, 2048, 6, true}, Bulk{8, 4096, 6, true}}) {
    p.push_back({std::string(b.interleaved ? "bulk-rr-" : "bulk-") + std::to_string(b.rows) + "x" +
                     std::to_string(b.segment) + "-x" + std::to_string(b.stages),
                 [=](const stream::Matrix& m, uint32_t* sink, cudaStream_t s) {
                   stream::read_bulk(m, b.rows, b.segment, b.stages, b.interleaved, sm_count, sink, s);
                 }});
  }
  return p;
}

// Prints one row of the table and returns it for the JSON; `moved` bytes
// give its GB/s (none where 0: the rows that read no weights).
nlohmann::json report(const std::string& weights, const std::string& pattern, const std::vector<double>& samples,
                      double moved) {
  const LatencyStats st = summarize(samples);
  nlohmann::json row = {
      {"pattern", pattern}, {"median_ms", st.median_ms}, {"p10_ms", st.p10_ms}, {"p90_ms", st.p90_ms}};
  if (moved > 0) {
    const double gbps = moved / (st.median_ms * 1e-3) / 1e9;
    std::printf("%-20s %-22s %10.2f %9.0f\n", weights.c_str(), pattern.c_str(), st.median_ms * 1e3, gbps);
    row["gbps"] = gbps;
  } else {
    std::printf("%-20s %-22s %10.2f %9s\n", weights.c_str(), pattern.c_str(), st.median_ms * 1e3, "-");
  }
  return row;
}

// What a timed call costs with no weights: 1-3 dependent empty launches,
// and a cooperative launch of one block per SM through 1 or 2 grid barriers.
nlohmann::json time_launch_floors(const Bench& b, int sm_count) {
  nlohmann::json rows = nlohmann::json::array();
  for (int launches : {1, 2, 3}) {
    rows.push_back(report("none", "empty-x" + std::to_string(launches),
                          b.time([&] { stream::launch_empty(launches, 2 * sm_count, b.stream); }), 0));
  }
  const DeviceBuffer counter(sizeof(unsigned));
  for (int barriers : {1, 2}) {
    MLOPT_CUDA_CHECK(cudaMemsetAsync(counter.get(), 0, sizeof(unsigned), b.stream));
    unsigned calls = 0;
    rows.push_back(report("none", "barrier-x" + std::to_string(barriers), b.time([&] {
      stream::launch_grid_barriers(barriers, sm_count, static_cast<unsigned*>(counter.get()), calls++, b.stream);
    }),
                          0));
  }
  return {{"weights", "none"}, {"rows", 0}, {"row_bytes", 0}, {"bytes", 0}, {"patterns", rows}};
}

// stream::run_mlp_skeleton for GPT-2 small (768 -> 3072 -> 768, fp16) at 1,
// 16 and 128 tokens, on 128 blocks: the up projection in tiles of 16 tokens
// x 24 features (64 x 48 at 128 tokens), the down projection in tiles of 48
// features with K split 8 ways. Its weights are the first 9.4 MB of
// `weights`.
nlohmann::json time_mlp_skeletons(const Bench& b, const char* weights) {
  constexpr int kD = 768, kF = 3072, kSplits = 8, kMostTokens = 128;
  const DeviceBuffer x(2 * kMostTokens * kD), residual(2 * kMostTokens * kD), out(2 * kMostTokens * kD),
      h(2 * kMostTokens * kF), partials(4 * std::size_t{kSplits} * kMostTokens * kD);
  for (const DeviceBuffer* buffer : {&x, &residual, &h}) {
    MLOPT_CUDA_CHECK(cudaMemsetAsync(buffer->get(), 0x3c, buffer->bytes(), b.stream));
  }
  nlohmann::json rows = nlohmann::json::array();
  for (int tokens : {1, 16, kMostTokens}) {
    stream::MlpSkeleton p;
    p.x = x.get();
    p.w_up = weights;
    p.w_down = weights + std::size_t{2} * kD * kF;
    p.h = h.get();
    p.partials = static_cast<float*>(partials.get());
    p.residual = residual.get();
    p.out = out.get();
    p.m = tokens;
    p.d = kD;
    p.f = kF;
    p.tm1 = tokens > 16 ? 64 : 16;
    p.tn1 = tokens > 16 ? 48 : 24;
    p.tn2 = 48;
    p.splits = kSplits;
    nlohmann::json row = report("gpt2-small-mlp", "one-kernel-skeleton-m" + std::to_string(tokens),
                                b.time([&] { stream::run_mlp_skeleton(p, b.stream); }), 0);
    row["tokens"] = tokens;
    rows.push_back(row);
  }
  return {{"weights", "gpt2-small-mlp one-kernel skeleton"}, {"patterns", rows}};
}

struct Options {
  std::string json;
  int iters = 30, warmup = 5;
};

int run(const Options& o) {
  if (kernels::device_count() == 0) throw std::runtime_error("no CUDA device is visible: run this on the GPU machine");
  int device = 0;
  MLOPT_CUDA_CHECK(cudaGetDevice(&device));
  const auto props = kernels::device_properties(device);
  const bool hopper = props.compute_major >= 9;
  std::printf("bench_weight_stream: %s (sm_%d%d, %d SMs)\n", props.name.c_str(), props.compute_major,
              props.compute_minor, props.multiprocessors);
  kernels::CudaStream cuda_stream;
  const TimingOptions timing{o.warmup, o.iters};
  const Bench b(cuda_stream.get(), timing, device, true);
  warm_up_gpu(b.stream, 1.0);

  int64_t most = 0;
  for (const Shape& s : kShapes) most = std::max(most, s.rows * s.row_bytes);
  const DeviceBuffer weights(static_cast<std::size_t>(most)), copy_target(static_cast<std::size_t>(most)),
      sink(sizeof(uint32_t));
  MLOPT_CUDA_CHECK(cudaMemsetAsync(weights.get(), 0x3c, weights.bytes(), b.stream));

  const std::vector<Pattern> reads = patterns(props.multiprocessors, hopper);
  std::printf("%-20s %-22s %10s %9s\n", "weights", "pattern", "median us", "GB/s");
  nlohmann::json shapes = nlohmann::json::array();
  shapes.push_back(time_launch_floors(b, props.multiprocessors));
  for (const Shape& s : kShapes) {
    const stream::Matrix m{weights.get(), s.rows, s.row_bytes};
    const double bytes = static_cast<double>(s.rows * s.row_bytes);
    nlohmann::json rows = nlohmann::json::array();
    rows.push_back(report(s.name, "copy", b.time([&] {
      MLOPT_CUDA_CHECK(cudaMemcpyAsync(copy_target.get(), weights.get(), static_cast<std::size_t>(bytes),
                                       cudaMemcpyDeviceToDevice, b.stream));
    }),
                          2 * bytes));
    for (const Pattern& p : reads) {
      auto* out = static_cast<uint32_t*>(sink.get());
      rows.push_back(report(s.name, p.name, b.time([&] { p.read(m, out, b.stream); }), bytes));
    }
    shapes.push_back({{"weights", s.name}, {"rows", s.rows}, {"row_bytes", s.row_bytes}, {"bytes", bytes},
                      {"patterns", rows}});
  }
  shapes.push_back(time_mlp_skeletons(b, static_cast<const char*>(weights.get())));
  MLOPT_CUDA_CHECK(cudaStreamSynchronize(b.stream));
  if (!o.json.empty()) {
    nlohmann::json doc = bench_json_head("bench_weight_stream", props, timing, true);
    doc["gbps"] = "1e9 bytes read per second (copy: read + written)";
    doc["shapes"] = shapes;
    write_file_atomically(o.json, doc.dump(2) + "\n");
    std::printf("wrote %s\n", o.json.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace mlopt::bench

int main(int argc, char** argv) {
  mlopt::bench::Options o;
  CLI::App app{"bench_weight_stream: read bandwidth of decode MLP weights by access pattern", "bench_weight_stream"};
  app.add_option("--json", o.json, "Write every pattern's time and bandwidth to this JSON file");
  mlopt::bench::add_timing_options(app, o.iters, o.warmup, "reads per pattern", "reads");
  const auto run = [&o] { return mlopt::bench::run(o); };
  return mlopt::bench::bench_main(app, argc, argv, run, [](const std::exception& e) { return std::string(e.what()); });
}
