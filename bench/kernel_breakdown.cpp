#include "kernel_breakdown.h"

#include <algorithm>
#include <exception>

#include "mlopt/core/stats.h"
#include "mlopt/kernels/cuda_check.h"
#include "mlopt/profiler/activity.h"

namespace mlopt::bench {
namespace {

double median_of(std::vector<double> v) { return v.empty() ? 0.0 : summarize(v).median_ms; }

// The memset that opens each traced call: a size nothing else clears, so
// memsets inside a call (cuBLAS clears workspace counters for some of its
// algorithms) and the L2 flush do not split calls.
constexpr std::size_t kMarkerBytes = 4099;

}  // namespace

KernelBreakdown kernel_breakdown(cudaStream_t stream, const std::function<void()>& launch, L2Flusher* flusher,
                                 int calls) {
  KernelBreakdown result;
  std::unique_ptr<profiler::ActivitySource> source;
  try {
    source = profiler::make_cupti_source();
  } catch (const std::exception& e) {
    result.error = e.what();
    return result;
  }
  if (!source) {
    result.error = "this build has no CUPTI";
    return result;
  }
  DeviceBuffer marker(kMarkerBytes);
  MLOPT_CUDA_CHECK(cudaStreamSynchronize(stream));
  source->start();
  for (int i = 0; i < calls; ++i) {
    if (flusher) flusher->flush(stream);
    MLOPT_CUDA_CHECK(cudaMemsetAsync(marker.get(), 0, kMarkerBytes, stream));
    launch();
  }
  MLOPT_CUDA_CHECK(cudaMemsetAsync(marker.get(), 0, kMarkerBytes, stream));
  MLOPT_CUDA_CHECK(cudaStreamSynchronize(stream));
  profiler::ActivityTrace trace = source->stop();

  // A call is the kernels between two markers (the flush before each marker
  // is a memset too, not a kernel).
  auto& gpu = trace.gpu;
  std::sort(gpu.begin(), gpu.end(), [](const auto& a, const auto& b) { return a.start_ns < b.start_ns; });
  std::vector<std::vector<const profiler::GpuActivity*>> per_call;
  bool open = false;
  for (const auto& a : gpu) {
    if (a.kind == profiler::GpuActivityKind::Memset && a.bytes == static_cast<int64_t>(kMarkerBytes)) {
      open = false;
      continue;
    }
    if (a.kind != profiler::GpuActivityKind::Kernel) continue;
    if (!open) per_call.emplace_back();
    open = true;
    per_call.back().push_back(&a);
  }
  if (per_call.empty()) {
    result.error = "no kernels were recorded";
    return result;
  }
  std::vector<double> sums, spans;
  for (const auto& call : per_call) {
    double sum = 0;
    for (const auto* k : call) sum += (k->end_ns - k->start_ns) * 1e-3;
    sums.push_back(sum);
    spans.push_back((call.back()->end_ns - call.front()->start_ns) * 1e-3);
  }
  result.kernel_sum_us = median_of(sums);
  result.span_us = median_of(spans);
  // Per kernel, over the calls that launched the same number of kernels as the first.
  const std::size_t n = per_call.front().size();
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<double> d;
    for (const auto& call : per_call) {
      if (call.size() == n) d.push_back((call[i]->end_ns - call[i]->start_ns) * 1e-3);
    }
    result.kernels.push_back({per_call.front()[i]->name.substr(0, 100), median_of(d)});
  }
  return result;
}

}  // namespace mlopt::bench
