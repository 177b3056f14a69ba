// The timeline and memory chart widgets: what they plot, clicking a bar
// selects its op, dragging pans and the wheel zooms the time axis within
// the iteration.
#include <gtest/gtest.h>

#include <QSignalSpy>
#include <QTest>
#include <QWheelEvent>

#include "mlopt/views/kernel_timeline.h"
#include "mlopt/views/memory_chart.h"
#include "qt_test_support.h"
#include "sample_profile.h"

using mlopt::test::ensure_app;
using mlopt::test::sample_profile;
using mlopt::views::KernelTimeline;
using mlopt::views::MemoryChart;

namespace {

// A laid-out, plotted timeline: bar geometry is known only after a replot.
void show(QCustomPlot& plot) {
  plot.resize(800, 300);
  plot.show();
  plot.replot();
}

int barNamed(const KernelTimeline& t, const std::string& name) {
  for (std::size_t i = 0; i < t.timeline().bars.size(); ++i) {
    if (t.timeline().bars[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

void wheel(QWidget& widget, QPoint at, int delta) {
  QWheelEvent event(at, widget.mapToGlobal(at), QPoint(), QPoint(0, delta), Qt::NoButton, Qt::NoModifier,
                    Qt::NoScrollPhase, false);
  QCoreApplication::sendEvent(&widget, &event);
}

}  // namespace

TEST(ViewsKernelTimeline, ClickingABarSelectsItsOp) {
  ensure_app();
  KernelTimeline timeline;
  timeline.setProfile(sample_profile(/*gpu=*/true));
  show(timeline);
  ASSERT_EQ(timeline.timeline().lanes.size(), 2u);
  EXPECT_DOUBLE_EQ(timeline.xAxis->range().lower, 0.0);
  EXPECT_DOUBLE_EQ(timeline.xAxis->range().upper, 0.012);  // the iteration, in ms

  const int gemm = barNamed(timeline, "gemm_kernel");
  ASSERT_GE(gemm, 0);
  const QRectF rect = timeline.barRect(gemm);
  ASSERT_GT(rect.width(), 10);
  EXPECT_TRUE(timeline.rect().contains(rect.center().toPoint()));
  EXPECT_EQ(timeline.barAt(rect.center()), gemm);

  QSignalSpy ops(&timeline, &KernelTimeline::opClicked);
  QSignalSpy bars(&timeline, &KernelTimeline::barClicked);
  QTest::mouseClick(&timeline, Qt::LeftButton, Qt::NoModifier, rect.center().toPoint());
  ASSERT_EQ(bars.count(), 1);
  EXPECT_EQ(bars.front().front().toInt(), gemm);
  ASSERT_EQ(ops.count(), 1);
  EXPECT_EQ(ops.front().front().toInt(), 0);  // aten::matmul
  EXPECT_EQ(timeline.selectedOp(), 0);

  // A bar traced to no op is a bar click, not an op click.
  const int orphan = barNamed(timeline, "orphan_kernel");
  QTest::mouseClick(&timeline, Qt::LeftButton, Qt::NoModifier, timeline.barRect(orphan).center().toPoint());
  EXPECT_EQ(bars.count(), 2);
  EXPECT_EQ(ops.count(), 1);

  // Between bars: nothing.
  const QPointF gap(timeline.xAxis->coordToPixel(0.003), rect.center().y());  // 3.0 µs: after gemm, before bias
  EXPECT_EQ(timeline.barAt(gap), -1);
  QTest::mouseClick(&timeline, Qt::LeftButton, Qt::NoModifier, gap.toPoint());
  EXPECT_EQ(bars.count(), 2);

  timeline.setSelectedOp(2);
  EXPECT_EQ(timeline.selectedOp(), 2);
}

TEST(ViewsKernelTimeline, DragPansAndWheelZoomsWithinTheIteration) {
  ensure_app();
  KernelTimeline timeline;
  timeline.setProfile(sample_profile());
  show(timeline);
  const QRect area = timeline.axisRect()->rect();
  const QPoint middle = area.center();

  wheel(timeline, middle, 120 * 3);  // zoom in
  const QCPRange zoomed = timeline.xAxis->range();
  EXPECT_LT(zoomed.size(), 0.012 * 0.9);
  EXPECT_GE(zoomed.lower, 0.0);
  EXPECT_LE(zoomed.upper, 0.012 + 1e-12);

  QSignalSpy bars(&timeline, &KernelTimeline::barClicked);
  QTest::mousePress(&timeline, Qt::LeftButton, Qt::NoModifier, middle);
  QTest::mouseMove(&timeline, middle + QPoint(-60, 0));
  QTest::mouseMove(&timeline, middle + QPoint(-120, 0));
  QTest::mouseRelease(&timeline, Qt::LeftButton, Qt::NoModifier, middle + QPoint(-120, 0));
  const QCPRange panned = timeline.xAxis->range();
  EXPECT_GT(panned.lower, zoomed.lower);  // dragged left: later times come into view
  EXPECT_NEAR(panned.size(), zoomed.size(), 1e-9);
  EXPECT_EQ(bars.count(), 0);  // a drag is no click

  // Zooming out stops at the whole iteration, panning at its edges.
  for (int i = 0; i < 10; ++i) wheel(timeline, middle, -120 * 3);
  EXPECT_NEAR(timeline.xAxis->range().lower, 0.0, 1e-12);
  EXPECT_NEAR(timeline.xAxis->range().upper, 0.012, 1e-12);
  timeline.xAxis->setRange(-5, 1);
  EXPECT_GE(timeline.xAxis->range().lower, 0.0);
  EXPECT_LE(timeline.xAxis->range().upper, 0.012 + 1e-12);

  timeline.xAxis->setRange(0.001, 0.002);
  timeline.resetZoom();
  EXPECT_NEAR(timeline.xAxis->range().upper, 0.012, 1e-12);
}

TEST(ViewsKernelTimeline, ClearShowsNothing) {
  ensure_app();
  KernelTimeline timeline;
  timeline.setProfile(sample_profile());
  timeline.setSelectedOp(1);
  timeline.clear();
  show(timeline);
  EXPECT_TRUE(timeline.timeline().bars.empty());
  EXPECT_EQ(timeline.selectedOp(), -1);
  EXPECT_EQ(timeline.barAt(timeline.rect().center()), -1);
}

TEST(ViewsMemoryChart, AllocatedOverTheIterationAndThePeak) {
  ensure_app();
  MemoryChart chart;
  chart.setProfile(sample_profile());
  show(chart);
  // Four samples and the level held to the iteration's end.
  EXPECT_EQ(chart.sampleCount(), 5);
  EXPECT_FALSE(chart.showsReserved());  // the CPU: reserved = allocated
  EXPECT_DOUBLE_EQ(chart.xAxis->range().upper, 0.012);
  EXPECT_GT(chart.yAxis->range().upper, 9.0);  // the 9 MB peak is in view

  chart.setProfile(sample_profile(/*gpu=*/true));
  EXPECT_TRUE(chart.showsReserved());
  EXPECT_GT(chart.yAxis->range().upper, 20.0);

  chart.clear();
  EXPECT_EQ(chart.sampleCount(), 0);
  EXPECT_FALSE(chart.showsReserved());
}
