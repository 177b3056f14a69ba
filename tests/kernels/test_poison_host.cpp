#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "mlopt/kernels/poison.h"

using namespace mlopt::kernels;

TEST(PoisonHost, FillsAndCounts) {
  std::mt19937 rng(std::random_device{}());
  std::vector<uint16_t> buf(1001);
  for (auto& w : buf) w = static_cast<uint16_t>(rng() % 0xFFFF);  // never the poison word
  EXPECT_EQ(count_poisoned_host(buf.data(), buf.size() * 2), 0u);
  poison_host(buf.data(), buf.size() * 2);
  EXPECT_EQ(count_poisoned_host(buf.data(), buf.size() * 2), buf.size());
  buf[17] = 1;
  buf[999] = 2;
  EXPECT_EQ(count_poisoned_host(buf.data(), buf.size() * 2), buf.size() - 2);
}
