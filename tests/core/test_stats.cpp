#include <gtest/gtest.h>

#include <random>

#include "mlopt/core/error.h"
#include "mlopt/core/stats.h"

TEST(Stats, KnownSample) {
  const std::vector<double> s = {5, 1, 4, 2, 3};
  const auto st = mlopt::summarize(s);
  EXPECT_EQ(st.count, 5);
  EXPECT_DOUBLE_EQ(st.mean_ms, 3);
  EXPECT_DOUBLE_EQ(st.median_ms, 3);
  EXPECT_DOUBLE_EQ(st.min_ms, 1);
  EXPECT_DOUBLE_EQ(st.max_ms, 5);
  EXPECT_DOUBLE_EQ(st.p10_ms, 1.4);  // rank 0.4 between 1 and 2
  EXPECT_DOUBLE_EQ(st.p90_ms, 4.6);
  EXPECT_NEAR(st.stddev_ms, 1.5811388300841898, 1e-12);
}

TEST(Stats, EvenCountMedianInterpolates) {
  EXPECT_DOUBLE_EQ(mlopt::percentile({1, 2, 3, 10}, 50), 2.5);
}

TEST(Stats, OrderHoldsOnRandomSamples) {
  std::mt19937 rng(std::random_device{}());
  std::lognormal_distribution<double> dist(1.0, 0.5);
  std::vector<double> s(257);
  for (auto& x : s) x = dist(rng);
  const auto st = mlopt::summarize(s);
  EXPECT_LE(st.min_ms, st.p10_ms);
  EXPECT_LE(st.p10_ms, st.median_ms);
  EXPECT_LE(st.median_ms, st.p90_ms);
  EXPECT_LE(st.p90_ms, st.max_ms);
  EXPECT_GT(st.stddev_ms, 0);
}

TEST(Stats, SingleSampleAndEmpty) {
  const auto st = mlopt::summarize({7.5});
  EXPECT_DOUBLE_EQ(st.median_ms, 7.5);
  EXPECT_DOUBLE_EQ(st.stddev_ms, 0);
  EXPECT_THROW(mlopt::summarize({}), mlopt::UsageError);
}
