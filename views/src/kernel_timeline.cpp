#include "mlopt/views/kernel_timeline.h"

#include <QHelpEvent>
#include <QToolTip>

#include <algorithm>
#include <cmath>

#include "chart_style.h"
#include "format.h"
#include "timeline_bars.h"

namespace mlopt::views {
namespace {

// A press and release closer than this (pixels) is a click, not a pan.
constexpr double kClickSlackPx = 4.0;
// The narrowest time span the zoom goes down to, in ms (10 ns).
constexpr double kMinSpanMs = 1e-5;

}  // namespace

KernelTimeline::KernelTimeline(QWidget* parent) : QCustomPlot(parent), bars_(new detail::TimelineBars(xAxis, yAxis)) {
  setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  // Time pans and zooms; the lanes stay put.
  axisRect()->setRangeDrag(Qt::Horizontal);
  axisRect()->setRangeZoom(Qt::Horizontal);
  xAxis->setLabel(tr("ms from the start of the last profiled iteration"));
  yAxis->setRangeReversed(true);  // lane 0 at the top
  yAxis->grid()->setVisible(false);
  yAxis->setTicker(QSharedPointer<QCPAxisTickerText>::create());
  yAxis->setSubTicks(false);
  bars_->setTimeline(&data_);
  connect(this, &QCustomPlot::mousePress, this, &KernelTimeline::onPress);
  connect(this, &QCustomPlot::mouseRelease, this, &KernelTimeline::onRelease);
  connect(xAxis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this, &KernelTimeline::keepInData);
  setMinimumHeight(120);
  restyle();
  clear();
}

void KernelTimeline::setProfile(const profiler::ProfileResult& profile) { setTimeline(build_timeline(profile)); }

void KernelTimeline::setTimeline(TimelineData data) {
  data_ = std::move(data);
  selected_op_ = -1;
  bars_->setSelectedOp(-1);
  auto ticker = QSharedPointer<QCPAxisTickerText>::create();
  for (std::size_t lane = 0; lane < data_.lanes.size(); ++lane) {
    ticker->addTick(static_cast<double>(lane), QString::fromStdString(data_.lanes[lane]));
  }
  yAxis->setTicker(ticker);
  yAxis->setRange(-0.5, std::max<double>(1, static_cast<double>(data_.lanes.size())) - 0.5);
  resetZoom();
}

void KernelTimeline::clear() { setTimeline({}); }

void KernelTimeline::resetZoom() {
  xAxis->setRange(0, data_.end_us > 0 ? data_.end_us / 1e3 : 1.0);
  replot();
}

void KernelTimeline::setSelectedOp(int op) {
  if (op == selected_op_) return;
  selected_op_ = op;
  bars_->setSelectedOp(op);
  replot();
}

int KernelTimeline::barAt(const QPointF& pos) const { return bars_->barAt(pos); }

QRectF KernelTimeline::barRect(int index) const { return bars_->pixelRect(index); }

void KernelTimeline::onPress(QMouseEvent* event) { press_pos_ = event->position(); }

void KernelTimeline::onRelease(QMouseEvent* event) {
  if (event->button() != Qt::LeftButton) return;
  const QPointF moved = event->position() - press_pos_;
  if (std::abs(moved.x()) + std::abs(moved.y()) > kClickSlackPx) return;  // a pan
  const int bar = barAt(event->position());
  if (bar < 0) return;
  emit barClicked(bar);
  const int op = data_.bars[static_cast<std::size_t>(bar)].op;
  if (op < 0) return;
  setSelectedOp(op);
  emit opClicked(op);
}

void KernelTimeline::keepInData(const QCPRange& range) {
  // Zooming and panning stay within the iteration: no scrolling off into
  // empty time, no zooming below what the clock resolves.
  const double end = data_.end_us > 0 ? data_.end_us / 1e3 : 1.0;
  const double size = std::clamp(range.size(), std::min(kMinSpanMs, end), end);
  const double lower = std::clamp(range.lower, 0.0, end - size);
  if (lower != range.lower || lower + size != range.upper) xAxis->setRange(lower, lower + size);
}

void KernelTimeline::changeEvent(QEvent* event) {
  if (event->type() == QEvent::PaletteChange) restyle();
  QCustomPlot::changeEvent(event);
}

bool KernelTimeline::event(QEvent* event) {
  if (event->type() == QEvent::ToolTip) {
    auto* help = static_cast<QHelpEvent*>(event);
    const int bar = barAt(help->pos());
    if (bar >= 0) {
      QToolTip::showText(help->globalPos(), toolTipFor(bar), this);
    } else {
      QToolTip::hideText();
      event->ignore();
    }
    return true;
  }
  return QCustomPlot::event(event);
}

QString KernelTimeline::toolTipFor(int bar) const {
  const TimelineBar& b = data_.bars[static_cast<std::size_t>(bar)];
  QString text = QStringLiteral("<b>%1</b><br>%2 ms, at %3 ms")
                     .arg(QString::fromStdString(b.name).toHtmlEscaped(),
                          detail::milliseconds(b.end_us - b.start_us), detail::milliseconds(b.start_us));
  if (!b.category.empty()) text += QStringLiteral("<br>") + QString::fromStdString(b.category).toHtmlEscaped();
  if (b.op < 0) text += QStringLiteral("<br>") + tr("not traced to an op");
  return text;
}

void KernelTimeline::restyle() {
  detail::apply_palette(*this, palette());
  bars_->setHighlightColor(palette().color(QPalette::Highlight));
  replot();
}

}  // namespace mlopt::views
