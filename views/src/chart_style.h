#pragma once
// Colours shared by the charts: the widget palette's (so the light and dark
// themes apply to plots as to every other widget), and one colour per
// profiler category, alike in every chart.
#include <QColor>
#include <QPalette>

#include <string>

class QCustomPlot;

namespace mlopt::views::detail {

// Background, axes, ticks, labels, grid and legend from `palette`.
void apply_palette(QCustomPlot& plot, const QPalette& palette);

// A fixed colour per ProfileResult category ("attention", "mlp", ...); grey
// for "" and unknown names.
QColor category_color(const std::string& category);

}  // namespace mlopt::views::detail
