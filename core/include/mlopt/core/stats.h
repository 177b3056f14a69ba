#pragma once
// Summary statistics of latency samples.
#include <vector>

namespace mlopt {

struct LatencyStats {
  int count = 0;
  double mean_ms = 0, median_ms = 0, p10_ms = 0, p90_ms = 0;
  double min_ms = 0, max_ms = 0, stddev_ms = 0;
};

// Percentile q in [0, 100] with linear interpolation between order statistics.
double percentile(std::vector<double> samples, double q);
// Throws UsageError on an empty sample set.
LatencyStats summarize(const std::vector<double>& samples_ms);

}  // namespace mlopt
