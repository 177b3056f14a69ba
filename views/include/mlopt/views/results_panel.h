#pragma once
// A profile's results: a summary line; the bottleneck ranking (categories
// and modules, sortable, filterable) with its recommendations; the op table
// over the timeline of the last iteration (selecting a bar selects its op
// and the other way round); the memory chart.
#include <QWidget>

#include <memory>

#include "mlopt/profiler/profile_result.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QSortFilterProxyModel;
class QTabWidget;
class QTableView;
class QTreeView;

namespace mlopt::views {

class KernelTimeline;
class MemoryChart;
class OpTableModel;
class RankingFilterModel;
class RankingModel;
class RecommendationsModel;

class ResultsPanel : public QWidget {
  Q_OBJECT

 public:
  enum Tab { RankingTab, OpsTab, MemoryTab };

  explicit ResultsPanel(QWidget* parent = nullptr);

  void setProfile(std::shared_ptr<const profiler::ProfileResult> profile);
  void clear();
  // The profile shown; null when none.
  const std::shared_ptr<const profiler::ProfileResult>& profile() const { return profile_; }
  QString summary() const;

  RankingModel* rankingModel() const { return ranking_; }
  RankingFilterModel* rankingFilter() const { return ranking_filter_; }
  RecommendationsModel* recommendationsModel() const { return recommendations_; }
  OpTableModel* opModel() const { return ops_; }
  QSortFilterProxyModel* opFilter() const { return op_filter_; }
  QTreeView* rankingView() const { return ranking_view_; }
  QTableView* recommendationsView() const { return recommendations_view_; }
  QTableView* opView() const { return op_view_; }
  QLineEdit* rankingFilterEdit() const { return ranking_text_; }
  QComboBox* rankingShowCombo() const { return ranking_show_; }
  QLineEdit* opFilterEdit() const { return op_text_; }
  KernelTimeline* timeline() const { return timeline_; }
  MemoryChart* memoryChart() const { return memory_; }
  QTabWidget* tabs() const { return tabs_; }

  // The op selected in the op table (index into ProfileResult::ops), or -1.
  int selectedOp() const;

 public slots:
  // Selects op `op` in the op table (clearing a filter that hides it) and
  // outlines it in the timeline.
  void selectOp(int op);
  // Moves keyboard focus to the ranking's filter box.
  void focusFilter();

 signals:
  void opSelected(int op);

 private:
  QWidget* buildRankingTab();
  QWidget* buildOpsTab();
  void onOpSelectionChanged();
  void showInOps(const QModelIndex& rankingIndex);

  std::shared_ptr<const profiler::ProfileResult> profile_;
  QLabel* summary_;
  QTabWidget* tabs_;
  RankingModel* ranking_;
  RankingFilterModel* ranking_filter_;
  RecommendationsModel* recommendations_;
  OpTableModel* ops_;
  QSortFilterProxyModel* op_filter_;
  QTreeView* ranking_view_ = nullptr;
  QTableView* recommendations_view_ = nullptr;
  QTableView* op_view_ = nullptr;
  QLineEdit* ranking_text_ = nullptr;
  QComboBox* ranking_show_ = nullptr;
  QLineEdit* op_text_ = nullptr;
  KernelTimeline* timeline_ = nullptr;
  MemoryChart* memory_ = nullptr;
};

}  // namespace mlopt::views
