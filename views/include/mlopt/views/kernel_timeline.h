#pragma once
// The last profiled iteration on a time axis: GPU kernels per stream, or on
// CPU-only profiles the op calls per nesting depth, coloured by category.
// The mouse wheel zooms and dragging pans the time axis; clicking a bar
// selects the op it belongs to (opClicked), and setSelectedOp outlines the
// bars of an op chosen elsewhere (the op table).
#include <qcustomplot.h>

#include "mlopt/profiler/profile_result.h"
#include "mlopt/views/timeline_data.h"

namespace mlopt::views {

namespace detail {
class TimelineBars;
}

class KernelTimeline : public QCustomPlot {
  Q_OBJECT

 public:
  explicit KernelTimeline(QWidget* parent = nullptr);

  void setProfile(const profiler::ProfileResult& profile);
  void setTimeline(TimelineData data);
  void clear();
  const TimelineData& timeline() const { return data_; }

  int selectedOp() const { return selected_op_; }
  // Bar under a point in widget coordinates, or -1.
  int barAt(const QPointF& pos) const;
  // Where bar `index` is drawn, in widget coordinates (after the last replot).
  QRectF barRect(int index) const;

 public slots:
  // Outlines the bars of op `op` (an index into ProfileResult::ops; -1: none).
  void setSelectedOp(int op);
  // Shows the whole iteration again.
  void resetZoom();

 signals:
  void barClicked(int bar);
  // A click on a bar that belongs to an op: its index into ProfileResult::ops.
  void opClicked(int op);

 protected:
  void changeEvent(QEvent* event) override;
  bool event(QEvent* event) override;

 private:
  void onPress(QMouseEvent* event);
  void onRelease(QMouseEvent* event);
  void keepInData(const QCPRange& range);
  void restyle();
  QString toolTipFor(int bar) const;

  TimelineData data_;
  detail::TimelineBars* bars_;  // owned by the plot
  int selected_op_ = -1;
  QPointF press_pos_;
};

}  // namespace mlopt::views
