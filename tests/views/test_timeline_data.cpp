// build_timeline: lanes, bars, times from the iteration's start, and the op
// each bar belongs to, on CPU and GPU profiles.
#include <gtest/gtest.h>

#include <algorithm>

#include "mlopt/views/timeline_data.h"
#include "sample_profile.h"

using mlopt::test::sample_profile;
using mlopt::views::build_timeline;
using mlopt::views::TimelineBar;

namespace {

const TimelineBar* bar(const mlopt::views::TimelineData& data, const std::string& name) {
  const auto it = std::find_if(data.bars.begin(), data.bars.end(), [&](const TimelineBar& b) { return b.name == name; });
  return it == data.bars.end() ? nullptr : &*it;
}

}  // namespace

TEST(ViewsTimelineData, CpuProfileHasOneLanePerOpDepth) {
  const auto data = build_timeline(sample_profile());
  EXPECT_FALSE(data.gpu);
  EXPECT_EQ(data.lanes, (std::vector<std::string>{"CPU ops", "CPU depth 1", "CPU depth 2"}));
  ASSERT_EQ(data.bars.size(), 7u);
  // By lane, then by start.
  for (std::size_t i = 1; i < data.bars.size(); ++i) {
    const auto& a = data.bars[i - 1];
    const auto& b = data.bars[i];
    EXPECT_TRUE(a.lane < b.lane || (a.lane == b.lane && a.start_us <= b.start_us)) << i;
  }
  const TimelineBar* matmul = bar(data, "aten::matmul");
  ASSERT_NE(matmul, nullptr);
  EXPECT_EQ(matmul->lane, 0);
  EXPECT_DOUBLE_EQ(matmul->start_us, 0.1);  // from the last iteration's start
  EXPECT_DOUBLE_EQ(matmul->end_us, 2.6);
  EXPECT_EQ(matmul->op, 0);
  EXPECT_EQ(matmul->category, "attention");
  EXPECT_EQ(bar(data, "aten::addmm")->op, 1);
  // Nested calls belong to their top-level call's op, at any depth.
  EXPECT_EQ(bar(data, "aten::bmm")->op, 0);
  EXPECT_EQ(bar(data, "aten::bmm")->lane, 1);
  EXPECT_EQ(bar(data, "aten::_softmax")->op, 2);
  EXPECT_EQ(bar(data, "aten::empty")->op, 2);
  EXPECT_EQ(bar(data, "aten::empty")->lane, 2);
  // A call of no summarised op (module and node unknown to ops).
  EXPECT_EQ(bar(data, "aten::unlisted")->op, -1);
  EXPECT_EQ(bar(data, "aten::unlisted")->category, "");
  EXPECT_DOUBLE_EQ(data.end_us, 12.0);  // the iteration's end
}

TEST(ViewsTimelineData, GpuProfileHasOneLanePerStream) {
  const auto data = build_timeline(sample_profile(/*gpu=*/true));
  EXPECT_TRUE(data.gpu);
  EXPECT_EQ(data.lanes, (std::vector<std::string>{"GPU 0 stream 7", "GPU 0 stream 13"}));
  ASSERT_EQ(data.bars.size(), 4u);
  const TimelineBar* gemm = bar(data, "gemm_kernel");
  ASSERT_NE(gemm, nullptr);
  EXPECT_EQ(gemm->lane, 0);
  // Launched by bmm, nested in matmul: matmul's op.
  EXPECT_EQ(gemm->op, 0);
  EXPECT_DOUBLE_EQ(gemm->start_us, 0.4);
  EXPECT_EQ(bar(data, "gemm_bias_kernel")->op, 1);
  EXPECT_EQ(bar(data, "softmax_kernel")->op, 2);
  EXPECT_EQ(bar(data, "softmax_kernel")->lane, 1);
  EXPECT_EQ(bar(data, "orphan_kernel")->op, -1);  // no correlation record
  EXPECT_EQ(bar(data, "orphan_kernel")->lane, 1);
}

TEST(ViewsTimelineData, NoTraceNoLanes) {
  auto p = sample_profile();
  p.trace_ops.clear();
  p.iteration_spans_ns.clear();
  const auto data = build_timeline(p);
  EXPECT_TRUE(data.lanes.empty());
  EXPECT_TRUE(data.bars.empty());
  EXPECT_DOUBLE_EQ(data.end_us, 0.0);
}

TEST(ViewsTimelineData, ParentMissingFromTheTraceMeansNoOp) {
  auto p = sample_profile();
  p.trace_ops.erase(p.trace_ops.begin());  // matmul gone; bmm's parent with it
  const auto data = build_timeline(p);
  EXPECT_EQ(bar(data, "aten::bmm")->op, -1);
}
