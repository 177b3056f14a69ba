#include <gtest/gtest.h>

#include "mlopt/core/runner.h"
#include "mlopt/profiler/nvtx_observer.h"
#include "test_support.h"

using namespace mlopt;

TEST(NvtxObserver, RangeNames) {
  EXPECT_EQ(profiler::NvtxIterationObserver::range_name(0, true), "mlopt/warmup 0");
  EXPECT_EQ(profiler::NvtxIterationObserver::range_name(12, false), "mlopt/iteration 12");
}

TEST(NvtxObserver, BalancedOverARun) {
  profiler::NvtxIterationObserver nvtx;
  const auto model = Model::load(test::tiny_gpt2());
  run(model, InputSpec::parse("ids:int64[1,8]"), {.warmup = 2, .iterations = 3, .observer = &nvtx});
  EXPECT_EQ(nvtx.open_ranges(), 0);
}

TEST(NvtxObserver, EndWithoutBeginIsRefused) {
  profiler::NvtxIterationObserver nvtx;
  EXPECT_THROW(nvtx.on_iteration_end(0, false), std::logic_error);
  nvtx.on_iteration_begin(0, false);
  EXPECT_EQ(nvtx.open_ranges(), 1);
  nvtx.on_iteration_end(0, false);
  EXPECT_EQ(nvtx.open_ranges(), 0);
}
