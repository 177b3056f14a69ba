#include "mlopt/views/compare_panel.h"

#include <qcustomplot.h>

#include <QEvent>
#include <QGridLayout>
#include <QLabel>
#include <QListView>
#include <QSplitter>
#include <QStackedWidget>
#include <QVBoxLayout>

#include <algorithm>

#include "chart_style.h"
#include "mlopt/views/variant_list_model.h"

namespace mlopt::views {
namespace {

constexpr double kMB = 1e6;  // decimal, as human_bytes

// One colour per variant or line, distinguishable on light and dark
// backgrounds (Tableau 10, in an order unlike the categories').
QColor series_color(std::size_t i) {
  static const QColor colors[] = {QColor(0x4e, 0x79, 0xa7), QColor(0xe1, 0x57, 0x59), QColor(0x59, 0xa1, 0x4f),
                                  QColor(0xf2, 0x8e, 0x2b), QColor(0xb0, 0x7a, 0xa1), QColor(0x76, 0xb7, 0xb2),
                                  QColor(0xed, 0xc9, 0x48), QColor(0xff, 0x9d, 0xa7), QColor(0x9c, 0x75, 0x5f),
                                  QColor(0xba, 0xb0, 0xac)};
  return colors[i % (sizeof(colors) / sizeof(colors[0]))];
}

QCustomPlot* make_chart(const QString& name, const QString& title, QWidget* parent) {
  auto* plot = new QCustomPlot(parent);
  plot->setObjectName(name);
  plot->setMinimumSize(240, 180);
  plot->plotLayout()->insertRow(0);
  auto* heading = new QCPTextElement(plot, title, QFont(plot->font().family(), -1, QFont::Bold));
  heading->setObjectName(QStringLiteral("title"));
  plot->plotLayout()->addElement(0, 0, heading);
  plot->setNoAntialiasingOnDrag(true);
  return plot;
}

// Empties `plot`: plottables, items and the legend.
void reset(QCustomPlot& plot) {
  plot.clearPlottables();
  plot.clearItems();
  plot.legend->setVisible(false);
  plot.xAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
  plot.xAxis->setLabel(QString());
  plot.yAxis->setLabel(QString());
}

// Says in the middle of an empty chart why it is empty.
void say(QCustomPlot& plot, const QString& text) {
  auto* item = new QCPItemText(&plot);
  item->setObjectName(QStringLiteral("emptyMessage"));
  item->position->setType(QCPItemPosition::ptAxisRectRatio);
  item->position->setCoords(0.5, 0.5);
  item->setText(text);
  item->setColor(plot.palette().color(QPalette::PlaceholderText));
  plot.xAxis->setRange(0, 1);
  plot.yAxis->setRange(0, 1);
}

// Names of `shown` as tick labels at 1, 2, ...
QSharedPointer<QCPAxisTickerText> name_ticker(const std::vector<const Variant*>& shown) {
  QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
  for (std::size_t i = 0; i < shown.size(); ++i) ticker->addTick(double(i + 1), QString::fromStdString(shown[i]->name));
  return ticker;
}

void range_from_zero(QCPAxis* axis, double top) { axis->setRange(0, top > 0 ? top * 1.1 : 1); }

}  // namespace

ComparePanel::ComparePanel(QWidget* parent)
    : QWidget(parent),
      variants_(new VariantListModel(this)),
      view_(new QListView(this)),
      problems_(new QLabel(this)),
      stack_(new QStackedWidget(this)),
      empty_(new QLabel(this)) {
  setObjectName(QStringLiteral("comparePanel"));
  view_->setObjectName(QStringLiteral("compareVariants"));
  view_->setModel(variants_);
  view_->setToolTip(tr("Tick the runs and profiles to compare"));
  view_->setUniformItemSizes(true);
  problems_->setObjectName(QStringLiteral("compareProblems"));
  problems_->setWordWrap(true);
  problems_->setVisible(false);
  empty_->setObjectName(QStringLiteral("compareEmpty"));
  empty_->setAlignment(Qt::AlignCenter);
  empty_->setWordWrap(true);

  auto* charts = new QWidget(stack_);
  latency_ = make_chart(QStringLiteral("latencyChart"), tr("Latency per forward"), charts);
  throughput_ = make_chart(QStringLiteral("throughputChart"), tr("Throughput over the sweep"), charts);
  memory_ = make_chart(QStringLiteral("peakMemoryChart"), tr("Peak memory"), charts);
  categories_ = make_chart(QStringLiteral("categoryChart"), tr("Time per category (profiles)"), charts);
  auto* grid = new QGridLayout(charts);
  grid->setContentsMargins(0, 0, 0, 0);
  grid->addWidget(latency_, 0, 0);
  grid->addWidget(throughput_, 0, 1);
  grid->addWidget(memory_, 1, 0);
  grid->addWidget(categories_, 1, 1);
  stack_->addWidget(empty_);
  stack_->addWidget(charts);

  auto* splitter = new QSplitter(Qt::Vertical, this);
  auto* top = new QWidget(splitter);
  auto* top_layout = new QVBoxLayout(top);
  top_layout->setContentsMargins(0, 0, 0, 0);
  top_layout->addWidget(new QLabel(tr("<b>Variants</b> (tick two or more: runs from <tt>mlopt run --project</tt>, "
                                      "profiles from Run › Profile)"),
                                   top));
  top_layout->addWidget(view_);
  top_layout->addWidget(problems_);
  splitter->addWidget(top);
  splitter->addWidget(stack_);
  splitter->setStretchFactor(0, 1);
  splitter->setStretchFactor(1, 4);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(splitter);

  connect(variants_, &VariantListModel::checkedChanged, this, &ComparePanel::redraw);
  connect(variants_, &QAbstractItemModel::modelReset, this, &ComparePanel::redraw);
  restyle();
  redraw();
}

void ComparePanel::setProject(const Project& project) {
  CompareData data = compare_data(project);
  QStringList problems;
  for (const auto& p : data.problems) problems << QString::fromStdString(p);
  problems_->setText(problems.join(QLatin1Char('\n')));
  problems_->setVisible(!problems.isEmpty());
  variants_->setVariants(std::move(data.variants));
}

void ComparePanel::clear() {
  problems_->clear();
  problems_->setVisible(false);
  variants_->clear();
}

bool ComparePanel::showsEmptyState() const { return stack_->currentWidget() == empty_; }

QString ComparePanel::message() const { return showsEmptyState() ? empty_->text() : QString(); }

void ComparePanel::redraw() {
  const std::vector<const Variant*> shown = variants_->checkedVariants();
  if (variants_->rowCount() == 0) {
    empty_->setText(tr("Nothing to compare yet: record runs with mlopt run --project or the Profile action "
                       "(Run › Profile); every run and profile of the project appears here."));
  } else if (shown.empty()) {
    empty_->setText(tr("Tick the runs and profiles to compare in the list above."));
  }
  stack_->setCurrentWidget(shown.empty() ? static_cast<QWidget*>(empty_) : stack_->widget(1));
  drawLatency(shown);
  drawThroughput(shown);
  drawMemory(shown);
  drawCategories(shown);
}

void ComparePanel::drawLatency(const std::vector<const Variant*>& shown) {
  reset(*latency_);
  latency_->yAxis->setLabel(tr("ms per forward"));
  double low = 0, high = 0;
  bool any = false;
  for (std::size_t i = 0; i < shown.size(); ++i) {
    const Variant& v = *shown[i];
    if (v.samples_ms.empty()) continue;
    const BoxStats b = box_stats(v.samples_ms);
    auto* box = new QCPStatisticalBox(latency_->xAxis, latency_->yAxis);
    box->setName(QString::fromStdString(v.label));
    const QColor color = series_color(static_cast<std::size_t>(&v - variants_->variants().data()));
    QColor fill = color;
    fill.setAlpha(110);
    box->setPen(QPen(color, 1.5));
    box->setBrush(fill);
    box->setWhiskerPen(QPen(color, 1.5, Qt::DashLine));
    box->setWhiskerBarPen(QPen(color, 1.5));
    box->setMedianPen(QPen(latency_->palette().color(QPalette::Text), 2.5));
    box->setOutlierStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, color, 5));
    box->addData(double(i + 1), b.whisker_low, b.q1, b.median, b.q3, b.whisker_high,
                 QVector<double>(b.outliers.begin(), b.outliers.end()));
    const double lo = b.outliers.empty() ? b.whisker_low : std::min(b.whisker_low, b.outliers.front());
    const double hi = b.outliers.empty() ? b.whisker_high : std::max(b.whisker_high, b.outliers.back());
    low = any ? std::min(low, lo) : lo;
    high = any ? std::max(high, hi) : hi;
    any = true;
  }
  if (!any) {
    say(*latency_, tr("No latency samples in these variants"));
  } else {
    latency_->xAxis->setTicker(name_ticker(shown));
    latency_->xAxis->setRange(0.4, shown.size() + 0.6);
    const double pad = std::max((high - low) * 0.1, high * 0.02);
    latency_->yAxis->setRange(std::max(0.0, low - pad), high + pad);
  }
  latency_->replot();
}

void ComparePanel::drawThroughput(const std::vector<const Variant*>& shown) {
  reset(*throughput_);
  axis_ = sweep_axis(shown);
  const std::vector<SweepLine> lines = sweep_lines(shown, axis_.dim);
  throughput_->xAxis->setLabel(QString::fromStdString(axis_.label));
  throughput_->yAxis->setLabel(tr("tokens/s"));
  double left = 0, right = 0, top = 0;
  bool any = false;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    auto* graph = throughput_->addGraph();
    graph->setName(QString::fromStdString(lines[i].group));
    graph->setPen(QPen(series_color(i), 2));
    graph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, series_color(i), series_color(i), 7));
    for (const SweepPoint& p : lines[i].points) {
      graph->addData(p.x, p.tokens_per_second);
      left = any ? std::min(left, p.x) : p.x;
      right = any ? std::max(right, p.x) : p.x;
      top = std::max(top, p.tokens_per_second);
      any = true;
    }
  }
  if (!any) {
    throughput_->xAxis->setLabel(QString());
    say(*throughput_, tr("No throughput: these variants have no token inputs"));
  } else {
    throughput_->legend->setVisible(true);
    throughput_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignRight);
    const double pad = right > left ? (right - left) * 0.08 : std::max(1.0, left * 0.5);
    throughput_->xAxis->setRange(left - pad, right + pad);
    range_from_zero(throughput_->yAxis, top);
  }
  throughput_->replot();
}

void ComparePanel::drawMemory(const std::vector<const Variant*>& shown) {
  reset(*memory_);
  memory_->yAxis->setLabel(tr("MB (peak)"));
  double top = 0;
  for (std::size_t i = 0; i < shown.size(); ++i) {
    const Variant& v = *shown[i];
    if (v.peak_memory_bytes <= 0) continue;
    auto* bars = new QCPBars(memory_->xAxis, memory_->yAxis);
    bars->setName(QString::fromStdString(v.label));
    const QColor color = series_color(static_cast<std::size_t>(&v - variants_->variants().data()));
    bars->setPen(QPen(color.darker(130)));
    bars->setBrush(color);
    bars->setWidth(0.6);
    bars->addData(double(i + 1), static_cast<double>(v.peak_memory_bytes) / kMB);
    top = std::max(top, static_cast<double>(v.peak_memory_bytes) / kMB);
  }
  if (memory_->plottableCount() == 0) {
    say(*memory_, tr("No peak memory recorded: profiles record it, and runs on a GPU"));
  } else {
    memory_->xAxis->setTicker(name_ticker(shown));
    memory_->xAxis->setRange(0.4, shown.size() + 0.6);
    range_from_zero(memory_->yAxis, top);
  }
  memory_->replot();
}

void ComparePanel::drawCategories(const std::vector<const Variant*>& shown) {
  reset(*categories_);
  categories_->yAxis->setLabel(tr("ms per iteration"));
  std::vector<const Variant*> profiles;
  for (const Variant* v : shown) {
    if (!v->categories_us.empty()) profiles.push_back(v);
  }
  if (profiles.empty()) {
    say(*categories_, tr("Tick a profile to see where its time goes"));
    categories_->replot();
    return;
  }
  QCPBars* below = nullptr;
  double top = 0;
  std::vector<double> totals(profiles.size(), 0.0);
  for (const std::string& category : category_order(profiles)) {
    auto* bars = new QCPBars(categories_->xAxis, categories_->yAxis);
    bars->setName(QString::fromStdString(category));
    const QColor color = detail::category_color(category);
    bars->setPen(QPen(color.darker(130)));
    bars->setBrush(color);
    bars->setWidth(0.6);
    for (std::size_t i = 0; i < profiles.size(); ++i) {
      for (const auto& [name, us] : profiles[i]->categories_us) {
        if (name != category) continue;
        bars->addData(double(i + 1), us / 1e3);
        totals[i] += us / 1e3;
      }
    }
    if (below) bars->moveAbove(below);
    below = bars;
  }
  for (double t : totals) top = std::max(top, t);
  categories_->xAxis->setTicker(name_ticker(profiles));
  categories_->xAxis->setRange(0.4, profiles.size() + 0.6);
  range_from_zero(categories_->yAxis, top);
  categories_->legend->setVisible(true);
  categories_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
  categories_->replot();
}

void ComparePanel::changeEvent(QEvent* event) {
  if (event->type() == QEvent::PaletteChange) restyle();
  QWidget::changeEvent(event);
}

void ComparePanel::restyle() {
  for (QCustomPlot* plot : {latency_, throughput_, memory_, categories_}) {
    detail::apply_palette(*plot, palette());
    if (auto* title = qobject_cast<QCPTextElement*>(plot->plotLayout()->element(0, 0))) {
      title->setTextColor(palette().color(QPalette::Text));
    }
  }
  // Median lines and messages take the text colour: draw again.
  redraw();
}

}  // namespace mlopt::views
