#include "timeline_bars.h"

#include <cmath>

#include "chart_style.h"

namespace mlopt::views::detail {

TimelineBars::TimelineBars(QCPAxis* keyAxis, QCPAxis* valueAxis) : QCPAbstractPlottable(keyAxis, valueAxis) {
  // Clicks are handled by KernelTimeline (a bar maps to an op, not to
  // QCustomPlot's data selection).
  setSelectable(QCP::stNone);
}

QRectF TimelineBars::pixelRect(int index) const {
  if (!data_ || index < 0 || index >= static_cast<int>(data_->bars.size())) return {};
  const TimelineBar& b = data_->bars[static_cast<std::size_t>(index)];
  const double x1 = mKeyAxis->coordToPixel(b.start_us / 1e3);
  const double x2 = mKeyAxis->coordToPixel(b.end_us / 1e3);
  const double y1 = mValueAxis->coordToPixel(b.lane - kHalfHeight);
  const double y2 = mValueAxis->coordToPixel(b.lane + kHalfHeight);
  return QRectF(QPointF(x1, y1), QPointF(x2, y2)).normalized();
}

int TimelineBars::barAt(const QPointF& pos) const {
  if (!data_ || !mKeyAxis || !mValueAxis) return -1;
  const double lane = std::round(mValueAxis->pixelToCoord(pos.y()));
  int best = -1;
  double best_width = 0;
  for (std::size_t i = 0; i < data_->bars.size(); ++i) {
    if (data_->bars[i].lane != static_cast<int>(lane)) continue;
    const QRectF r = pixelRect(static_cast<int>(i));
    if (pos.y() < r.top() || pos.y() > r.bottom()) continue;
    if (pos.x() < r.left() - kHitSlackPx || pos.x() > r.right() + kHitSlackPx) continue;
    if (best < 0 || r.width() < best_width) {
      best = static_cast<int>(i);
      best_width = r.width();
    }
  }
  return best;
}

double TimelineBars::selectTest(const QPointF& pos, bool onlySelectable, QVariant* details) const {
  if (onlySelectable && !selectable()) return -1;
  const int bar = barAt(pos);
  if (bar < 0) return -1;
  if (details) details->setValue(QCPDataSelection(QCPDataRange(bar, bar + 1)));
  return 0;
}

QCPRange TimelineBars::getKeyRange(bool& foundRange, QCP::SignDomain) const {
  foundRange = data_ && !data_->bars.empty();
  return foundRange ? QCPRange(0, data_->end_us / 1e3) : QCPRange();
}

QCPRange TimelineBars::getValueRange(bool& foundRange, QCP::SignDomain, const QCPRange&) const {
  foundRange = data_ && !data_->lanes.empty();
  return foundRange ? QCPRange(-0.5, static_cast<double>(data_->lanes.size()) - 0.5) : QCPRange();
}

void TimelineBars::draw(QCPPainter* painter) {
  if (!data_ || !mKeyAxis || !mValueAxis) return;
  const QCPRange visible = mKeyAxis->range();
  painter->setAntialiasing(false);
  painter->setPen(Qt::NoPen);
  const QPen highlight(highlight_, 2);
  for (std::size_t i = 0; i < data_->bars.size(); ++i) {
    const TimelineBar& b = data_->bars[i];
    if (b.end_us / 1e3 < visible.lower || b.start_us / 1e3 > visible.upper) continue;
    QRectF r = pixelRect(static_cast<int>(i));
    // Sub-pixel kernels still show, one pixel wide.
    if (r.width() < 1) r.setWidth(1);
    painter->setBrush(category_color(b.category));
    const bool selected = selected_op_ >= 0 && b.op == selected_op_;
    painter->setPen(selected ? highlight : QPen(Qt::NoPen));
    painter->drawRect(r);
  }
}

void TimelineBars::drawLegendIcon(QCPPainter* painter, const QRectF& rect) const {
  painter->setPen(Qt::NoPen);
  painter->setBrush(category_color(""));
  painter->drawRect(rect.adjusted(0, rect.height() * 0.25, 0, -rect.height() * 0.25));
}

}  // namespace mlopt::views::detail
