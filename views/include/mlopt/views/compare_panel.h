#pragma once
// Compare: any runs and profiles of the project side by side. A checkable
// list picks the variants; four charts draw them: latency distribution (a
// box per variant), throughput over the batch or sequence length swept (a
// line per model · dtype · device), peak memory (a bar per variant) and
// time per category (stacked bars, profiles only). Follows the theme
// through palette-change events.
#include <QWidget>

#include "mlopt/core/project.h"
#include "mlopt/views/compare_data.h"

class QCustomPlot;
class QLabel;
class QListView;
class QStackedWidget;

namespace mlopt::views {

class VariantListModel;

class ComparePanel : public QWidget {
  Q_OBJECT

 public:
  explicit ComparePanel(QWidget* parent = nullptr);

  // Reads every run and profile of `project`; keeps the variants checked
  // before that are still there.
  void setProject(const Project& project);
  void clear();

  VariantListModel* variantModel() const { return variants_; }
  QListView* variantView() const { return view_; }
  QCustomPlot* latencyChart() const { return latency_; }
  QCustomPlot* throughputChart() const { return throughput_; }
  QCustomPlot* memoryChart() const { return memory_; }
  QCustomPlot* categoryChart() const { return categories_; }
  // True while the "nothing to compare" message shows instead of the charts.
  bool showsEmptyState() const;
  QString message() const;
  // What the throughput chart's x axis is (from the checked variants).
  SweepAxis sweepAxis() const { return axis_; }

 public slots:
  void redraw();

 protected:
  void changeEvent(QEvent* event) override;

 private:
  void drawLatency(const std::vector<const Variant*>& shown);
  void drawThroughput(const std::vector<const Variant*>& shown);
  void drawMemory(const std::vector<const Variant*>& shown);
  void drawCategories(const std::vector<const Variant*>& shown);
  void restyle();

  VariantListModel* variants_;
  QListView* view_;
  QLabel* problems_;
  QStackedWidget* stack_;
  QLabel* empty_;
  QCustomPlot* latency_;
  QCustomPlot* throughput_;
  QCustomPlot* memory_;
  QCustomPlot* categories_;
  SweepAxis axis_;
};

}  // namespace mlopt::views
