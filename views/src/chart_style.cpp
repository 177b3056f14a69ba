#include "chart_style.h"

#include <qcustomplot.h>

#include <map>

#include "mlopt/profiler/profile_result.h"

namespace mlopt::views::detail {
namespace {

void style_axis(QCPAxis* axis, const QColor& text, const QColor& grid) {
  const QPen pen(text, 1);
  axis->setBasePen(pen);
  axis->setTickPen(pen);
  axis->setSubTickPen(pen);
  axis->setTickLabelColor(text);
  axis->setLabelColor(text);
  axis->grid()->setPen(QPen(grid, 1, Qt::DotLine));
  axis->grid()->setZeroLinePen(Qt::NoPen);
}

}  // namespace

void apply_palette(QCustomPlot& plot, const QPalette& palette) {
  const QColor text = palette.color(QPalette::Text);
  const QColor grid = palette.color(QPalette::Mid);
  plot.setBackground(palette.brush(QPalette::Base));
  for (QCPAxis* axis : plot.axisRect()->axes()) style_axis(axis, text, grid);
  plot.legend->setBrush(palette.brush(QPalette::Base));
  plot.legend->setBorderPen(QPen(grid));
  plot.legend->setTextColor(text);
}

QColor category_color(const std::string& category) {
  // Distinguishable on light and dark backgrounds (Tableau 10).
  static const std::map<std::string, QColor> colors = {
      {profiler::kAttention, QColor(0x4e, 0x79, 0xa7)},   {profiler::kMlp, QColor(0xf2, 0x8e, 0x2b)},
      {profiler::kNorm, QColor(0x59, 0xa1, 0x4f)},        {profiler::kElementwise, QColor(0xb0, 0x7a, 0xa1)},
      {profiler::kEmbedding, QColor(0x9c, 0x75, 0x5f)},   {profiler::kCommunication, QColor(0xe1, 0x57, 0x59)},
      {profiler::kOther, QColor(0x76, 0xb7, 0xb2)},       {profiler::kIdle, QColor(0xba, 0xb0, 0xac)},
  };
  const auto it = colors.find(category);
  return it == colors.end() ? QColor(0x9d, 0x9d, 0x9d) : it->second;
}

}  // namespace mlopt::views::detail
