#include "mlopt/core/stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "mlopt/core/error.h"

namespace mlopt {

double percentile(std::vector<double> samples, double q) {
  if (samples.empty()) throw UsageError("percentile of an empty sample set");
  std::sort(samples.begin(), samples.end());
  const double rank = std::clamp(q, 0.0, 100.0) / 100.0 * static_cast<double>(samples.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(rank));
  const auto hi = std::min(lo + 1, samples.size() - 1);
  const double frac = rank - static_cast<double>(lo);
  return samples[lo] + (samples[hi] - samples[lo]) * frac;
}

LatencyStats summarize(const std::vector<double>& samples_ms) {
  if (samples_ms.empty()) throw UsageError("no latency samples to summarize (iterations must be >= 1)");
  LatencyStats s;
  s.count = static_cast<int>(samples_ms.size());
  const double n = static_cast<double>(samples_ms.size());
  s.mean_ms = std::accumulate(samples_ms.begin(), samples_ms.end(), 0.0) / n;
  double sq = 0;
  for (double x : samples_ms) sq += (x - s.mean_ms) * (x - s.mean_ms);
  // Sample standard deviation (n-1): the samples estimate a distribution.
  s.stddev_ms = samples_ms.size() > 1 ? std::sqrt(sq / (n - 1)) : 0.0;
  s.median_ms = percentile(samples_ms, 50);
  s.p10_ms = percentile(samples_ms, 10);
  s.p90_ms = percentile(samples_ms, 90);
  const auto [mn, mx] = std::minmax_element(samples_ms.begin(), samples_ms.end());
  s.min_ms = *mn;
  s.max_ms = *mx;
  return s;
}

}  // namespace mlopt
