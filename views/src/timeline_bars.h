#pragma once
// A QCustomPlot plottable that draws TimelineData's bars (key axis: ms from
// the iteration's start; value axis: lane) and finds the bar under a point.
// One plottable for all bars: thousands of QCPItemRects would each be a
// layerable QCustomPlot hit-tests and draws separately.
#include <qcustomplot.h>

#include "mlopt/views/timeline_data.h"

namespace mlopt::views::detail {

class TimelineBars : public QCPAbstractPlottable {
 public:
  // Half the height of a bar, in lanes: lanes are 1 apart.
  static constexpr double kHalfHeight = 0.4;
  // Slack around a bar, in pixels, when hit-testing: a kernel of a few µs
  // is less than a pixel wide until zoomed in.
  static constexpr double kHitSlackPx = 2.0;

  TimelineBars(QCPAxis* keyAxis, QCPAxis* valueAxis);

  // The data drawn; not owned, must outlive this plottable or be replaced.
  void setTimeline(const TimelineData* data) { data_ = data; }
  void setSelectedOp(int op) { selected_op_ = op; }
  void setHighlightColor(const QColor& color) { highlight_ = color; }

  // Bar index under `pos` (widget pixels), or -1; the narrowest when several.
  int barAt(const QPointF& pos) const;
  // Where bar `index` is drawn, in widget pixels.
  QRectF pixelRect(int index) const;

  double selectTest(const QPointF& pos, bool onlySelectable, QVariant* details = nullptr) const override;
  QCPRange getKeyRange(bool& foundRange, QCP::SignDomain inSignDomain = QCP::sdBoth) const override;
  QCPRange getValueRange(bool& foundRange, QCP::SignDomain inSignDomain = QCP::sdBoth,
                         const QCPRange& inKeyRange = QCPRange()) const override;

 protected:
  void draw(QCPPainter* painter) override;
  void drawLegendIcon(QCPPainter* painter, const QRectF& rect) const override;

 private:
  const TimelineData* data_ = nullptr;
  int selected_op_ = -1;
  QColor highlight_ = Qt::black;
};

}  // namespace mlopt::views::detail
