#include <gtest/gtest.h>

#include <clocale>

#include "mlopt/core/units.h"

TEST(Units, HumanCounts) {
  EXPECT_EQ(mlopt::human_count(512), "512");
  EXPECT_EQ(mlopt::human_count(9999), "9999");
  EXPECT_EQ(mlopt::human_count(38'600), "38.6k");
  EXPECT_EQ(mlopt::human_count(124'439'808), "124.44M");
  EXPECT_EQ(mlopt::human_count(1'100'048'384), "1.10B");
}

TEST(Units, HumanBytes) {
  EXPECT_EQ(mlopt::human_bytes(12), "12 B");
  EXPECT_EQ(mlopt::human_bytes(6'144), "6.1 kB");
  EXPECT_EQ(mlopt::human_bytes(497'759'232), "497.8 MB");
  EXPECT_EQ(mlopt::human_bytes(2'200'000'000), "2.20 GB");
}

TEST(Units, IgnoresTheLocale) {
  // A GUI sets the C locale from the environment; decimals stay dots.
  const char* previous = std::setlocale(LC_NUMERIC, nullptr);
  const std::string saved = previous ? previous : "C";
  if (!std::setlocale(LC_NUMERIC, "de_DE.UTF-8")) GTEST_SKIP() << "no de_DE locale installed";
  EXPECT_EQ(mlopt::fixed(1.5, 2), "1.50");
  std::setlocale(LC_NUMERIC, saved.c_str());
}
