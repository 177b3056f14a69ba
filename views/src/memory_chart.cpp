#include "mlopt/views/memory_chart.h"

#include <algorithm>

#include "chart_style.h"
#include "format.h"

namespace mlopt::views {
namespace {

constexpr double kMB = 1e6;  // decimal, as human_bytes

}  // namespace

MemoryChart::MemoryChart(QWidget* parent)
    : QCustomPlot(parent),
      allocated_(addGraph()),
      reserved_(addGraph()),
      peak_line_(new QCPItemStraightLine(this)),
      peak_label_(new QCPItemText(this)) {
  allocated_->setName(tr("allocated (tensors alive)"));
  allocated_->setLineStyle(QCPGraph::lsStepLeft);
  allocated_->setPen(QPen(QColor(0x4e, 0x79, 0xa7), 2));
  allocated_->setBrush(QColor(0x4e, 0x79, 0xa7, 60));
  reserved_->setName(tr("reserved (caching allocator)"));
  reserved_->setLineStyle(QCPGraph::lsStepLeft);
  reserved_->setPen(QPen(QColor(0xf2, 0x8e, 0x2b), 2, Qt::DashLine));
  peak_line_->setPen(QPen(QColor(0xe1, 0x57, 0x59), 1, Qt::DashLine));
  peak_label_->setPositionAlignment(Qt::AlignRight | Qt::AlignBottom);
  peak_label_->position->setTypeX(QCPItemPosition::ptAxisRectRatio);
  peak_label_->position->setTypeY(QCPItemPosition::ptPlotCoords);
  peak_label_->setColor(QColor(0xe1, 0x57, 0x59));
  xAxis->setLabel(tr("ms from the start of the last profiled iteration"));
  yAxis->setLabel(tr("MB"));
  legend->setVisible(true);
  axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
  setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  axisRect()->setRangeDrag(Qt::Horizontal);
  axisRect()->setRangeZoom(Qt::Horizontal);
  setMinimumHeight(120);
  restyle();
  clear();
}

void MemoryChart::setProfile(const profiler::ProfileResult& p) {
  QVector<double> t, allocated, reserved;
  const int64_t origin = !p.iteration_spans_ns.empty() ? p.iteration_spans_ns.back().first
                         : !p.memory.empty()           ? p.memory.front().time_ns
                                                       : 0;
  bool differs = false;
  double top = 0;
  for (const auto& s : p.memory) {
    t << static_cast<double>(s.time_ns - origin) / 1e6;
    allocated << static_cast<double>(s.allocated_bytes) / kMB;
    reserved << static_cast<double>(s.reserved_bytes) / kMB;
    differs = differs || s.reserved_bytes != s.allocated_bytes;
    top = std::max({top, allocated.back(), reserved.back()});
  }
  double end = t.isEmpty() ? 0 : t.back();
  if (!p.iteration_spans_ns.empty()) {
    end = std::max(end, static_cast<double>(p.iteration_spans_ns.back().second - origin) / 1e6);
    // The allocation level holds until the iteration ends: extend the step.
    if (!t.isEmpty()) {
      t << end;
      allocated << allocated.back();
      reserved << reserved.back();
    }
  }
  allocated_->setData(t, allocated, true);
  reserved_->setData(differs ? t : QVector<double>(), differs ? reserved : QVector<double>(), true);
  reserved_->setVisible(differs);
  reserved_->removeFromLegend();
  if (differs) reserved_->addToLegend();

  const double peak = static_cast<double>(p.peak_memory_bytes) / kMB;
  const bool has_peak = p.peak_memory_bytes > 0;
  peak_line_->setVisible(has_peak);
  peak_label_->setVisible(has_peak);
  peak_line_->point1->setCoords(0, peak);
  peak_line_->point2->setCoords(1, peak);
  peak_label_->position->setCoords(0.98, peak);
  peak_label_->setText(tr("peak %1 (whole profile)").arg(detail::human_bytes(p.peak_memory_bytes)));

  end_ms_ = end > 0 ? end : 1;
  top_mb_ = std::max(top, peak) > 0 ? std::max(top, peak) * 1.1 : 1;
  resetZoom();
}

void MemoryChart::clear() {
  allocated_->data()->clear();
  reserved_->data()->clear();
  reserved_->setVisible(false);
  reserved_->removeFromLegend();
  peak_line_->setVisible(false);
  peak_label_->setVisible(false);
  end_ms_ = 1;
  top_mb_ = 1;
  resetZoom();
}

int MemoryChart::sampleCount() const { return allocated_->data()->size(); }

bool MemoryChart::showsReserved() const { return reserved_->visible(); }

void MemoryChart::resetZoom() {
  xAxis->setRange(0, end_ms_);
  yAxis->setRange(0, top_mb_);
  replot();
}

void MemoryChart::changeEvent(QEvent* event) {
  if (event->type() == QEvent::PaletteChange) restyle();
  QCustomPlot::changeEvent(event);
}

void MemoryChart::restyle() {
  detail::apply_palette(*this, palette());
  replot();
}

}  // namespace mlopt::views
