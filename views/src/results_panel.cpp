#include "mlopt/views/results_panel.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>
#include <QTreeView>
#include <QVBoxLayout>

#include "format.h"
#include "mlopt/views/kernel_timeline.h"
#include "mlopt/views/memory_chart.h"
#include "mlopt/views/op_table_model.h"
#include "mlopt/views/ranking_model.h"
#include "mlopt/views/recommendations_model.h"

namespace mlopt::views {
namespace {

QLabel* heading(const QString& text, QWidget* parent) { return new QLabel(QStringLiteral("<b>%1</b>").arg(text), parent); }

QString summaryOf(const profiler::ProfileResult& p) {
  const bool gpu = p.gpu_busy_us > 0 || !p.kernels.empty();
  QString s = ResultsPanel::tr("<b>%1 ms</b> per iteration (median of %2 profiled; %3 ms without the profiler)")
                  .arg(detail::milliseconds(p.iteration_us))
                  .arg(p.iterations)
                  .arg(detail::milliseconds(p.unprofiled_iteration_us));
  s += QStringLiteral(" · %1: %2").arg(QString::fromStdString(to_string(p.device)),
                                        QString::fromStdString(p.device_name).toHtmlEscaped());
  s += QStringLiteral(" · %1 · %2").arg(QString::fromStdString(to_string(p.dtype)),
                                         QString::fromStdString(p.spec.to_string()).toHtmlEscaped());
  if (gpu) s += ResultsPanel::tr(" · GPU busy %1 ms").arg(detail::milliseconds(p.gpu_busy_us));
  s += ResultsPanel::tr(" · peak memory %1").arg(detail::human_bytes(p.peak_memory_bytes));
  return s;
}

}  // namespace

ResultsPanel::ResultsPanel(QWidget* parent)
    : QWidget(parent),
      summary_(new QLabel(this)),
      tabs_(new QTabWidget(this)),
      ranking_(new RankingModel(this)),
      ranking_filter_(new RankingFilterModel(this)),
      recommendations_(new RecommendationsModel(this)),
      ops_(new OpTableModel(this)),
      op_filter_(new QSortFilterProxyModel(this)) {
  summary_->setObjectName(QStringLiteral("profileSummary"));
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  tabs_->setObjectName(QStringLiteral("resultTabs"));
  ranking_filter_->setSourceModel(ranking_);
  op_filter_->setSourceModel(ops_);
  op_filter_->setSortRole(OpTableModel::RawValueRole);
  op_filter_->setFilterKeyColumn(-1);  // the text may be an op, a module or a category
  op_filter_->setFilterCaseSensitivity(Qt::CaseInsensitive);

  tabs_->addTab(buildRankingTab(), tr("&Ranking"));
  tabs_->addTab(buildOpsTab(), tr("&Ops && timeline"));
  memory_ = new MemoryChart(this);
  memory_->setObjectName(QStringLiteral("memoryChart"));
  tabs_->addTab(memory_, tr("&Memory"));

  auto* layout = new QVBoxLayout(this);
  layout->addWidget(summary_);
  layout->addWidget(tabs_, 1);
  clear();
}

QWidget* ResultsPanel::buildRankingTab() {
  auto* page = new QWidget(this);
  ranking_text_ = new QLineEdit(page);
  ranking_text_->setObjectName(QStringLiteral("rankingFilter"));
  ranking_text_->setPlaceholderText(tr("Filter categories and modules (Ctrl+F)"));
  ranking_text_->setClearButtonEnabled(true);
  ranking_show_ = new QComboBox(page);
  ranking_show_->setObjectName(QStringLiteral("rankingShow"));
  ranking_show_->addItem(tr("Categories and modules"), int(RankingFilterModel::ShowAll));
  ranking_show_->addItem(tr("Categories"), int(RankingFilterModel::ShowCategories));
  ranking_show_->addItem(tr("Modules"), int(RankingFilterModel::ShowModules));

  ranking_view_ = new QTreeView(page);
  ranking_view_->setObjectName(QStringLiteral("rankingView"));
  ranking_view_->setModel(ranking_filter_);
  ranking_view_->setSortingEnabled(true);
  ranking_view_->sortByColumn(RankingModel::TimeColumn, Qt::DescendingOrder);
  ranking_view_->setAlternatingRowColors(true);
  ranking_view_->setUniformRowHeights(true);
  ranking_view_->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
  ranking_view_->header()->setSectionResizeMode(RankingModel::NameColumn, QHeaderView::Stretch);
  ranking_view_->header()->setStretchLastSection(false);
  ranking_view_->setToolTip(tr("Double-click a category or module to see its ops"));

  recommendations_view_ = new QTableView(page);
  recommendations_view_->setObjectName(QStringLiteral("recommendationsView"));
  auto* recommendations_sorted = new QSortFilterProxyModel(this);
  recommendations_sorted->setSourceModel(recommendations_);
  recommendations_sorted->setSortRole(RecommendationsModel::RawValueRole);
  recommendations_view_->setModel(recommendations_sorted);
  recommendations_view_->setSortingEnabled(true);
  recommendations_view_->sortByColumn(RecommendationsModel::SavingColumn, Qt::DescendingOrder);
  recommendations_view_->setWordWrap(true);
  recommendations_view_->verticalHeader()->setVisible(false);
  recommendations_view_->horizontalHeader()->setStretchLastSection(true);
  recommendations_view_->setSelectionBehavior(QAbstractItemView::SelectRows);

  auto* filter_row = new QHBoxLayout;
  filter_row->addWidget(ranking_text_, 1);
  filter_row->addWidget(ranking_show_);
  auto* splitter = new QSplitter(Qt::Vertical, page);
  auto* top = new QWidget(splitter);
  auto* top_layout = new QVBoxLayout(top);
  top_layout->setContentsMargins(0, 0, 0, 0);
  top_layout->addLayout(filter_row);
  top_layout->addWidget(ranking_view_);
  auto* bottom = new QWidget(splitter);
  auto* bottom_layout = new QVBoxLayout(bottom);
  bottom_layout->setContentsMargins(0, 0, 0, 0);
  bottom_layout->addWidget(heading(tr("Recommendations"), bottom));
  auto* none = new QLabel(tr("None: no transform is expected to save more than 2% of the iteration."), bottom);
  none->setObjectName(QStringLiteral("noRecommendations"));
  bottom_layout->addWidget(none);
  bottom_layout->addWidget(recommendations_view_);
  // Says "none" only for a profile without any, not before the first profile.
  auto update_none = [this, none] { none->setVisible(profile_ && recommendations_->rowCount() == 0); };
  connect(recommendations_, &QAbstractItemModel::modelReset, none, update_none);
  splitter->addWidget(top);
  splitter->addWidget(bottom);
  splitter->setStretchFactor(0, 3);
  splitter->setStretchFactor(1, 1);
  auto* layout = new QVBoxLayout(page);
  layout->addWidget(splitter);

  connect(ranking_text_, &QLineEdit::textChanged, ranking_filter_, &RankingFilterModel::setText);
  connect(ranking_text_, &QLineEdit::textChanged, ranking_view_, &QTreeView::expandAll);
  connect(ranking_show_, &QComboBox::currentIndexChanged, this, [this] {
    ranking_filter_->setShow(static_cast<RankingFilterModel::Show>(ranking_show_->currentData().toInt()));
    ranking_view_->expandAll();
  });
  connect(ranking_view_, &QTreeView::doubleClicked, this, &ResultsPanel::showInOps);
  return page;
}

QWidget* ResultsPanel::buildOpsTab() {
  auto* page = new QWidget(this);
  op_text_ = new QLineEdit(page);
  op_text_->setObjectName(QStringLiteral("opFilter"));
  op_text_->setPlaceholderText(tr("Filter ops by name, module or category"));
  op_text_->setClearButtonEnabled(true);
  op_view_ = new QTableView(page);
  op_view_->setObjectName(QStringLiteral("opTable"));
  op_view_->setModel(op_filter_);
  op_view_->setSortingEnabled(true);
  op_view_->sortByColumn(-1, Qt::AscendingOrder);  // the profile's order: most time first
  op_view_->setSelectionBehavior(QAbstractItemView::SelectRows);
  op_view_->setSelectionMode(QAbstractItemView::SingleSelection);
  op_view_->setAlternatingRowColors(true);
  op_view_->setWordWrap(false);
  op_view_->verticalHeader()->setVisible(false);
  op_view_->verticalHeader()->setDefaultSectionSize(op_view_->fontMetrics().height() + 6);
  op_view_->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);

  timeline_ = new KernelTimeline(page);
  timeline_->setObjectName(QStringLiteral("timeline"));
  auto* reset = new QPushButton(tr("Whole iteration"), page);
  reset->setToolTip(tr("Zoom out to the whole iteration (wheel: zoom, drag: pan, click a bar: select its op)"));

  auto* splitter = new QSplitter(Qt::Vertical, page);
  auto* top = new QWidget(splitter);
  auto* top_layout = new QVBoxLayout(top);
  top_layout->setContentsMargins(0, 0, 0, 0);
  top_layout->addWidget(op_text_);
  top_layout->addWidget(op_view_);
  auto* bottom = new QWidget(splitter);
  auto* bottom_layout = new QVBoxLayout(bottom);
  bottom_layout->setContentsMargins(0, 0, 0, 0);
  auto* timeline_row = new QHBoxLayout;
  timeline_row->addWidget(heading(tr("Timeline of the last iteration"), bottom), 1);
  timeline_row->addWidget(reset);
  bottom_layout->addLayout(timeline_row);
  bottom_layout->addWidget(timeline_, 1);
  splitter->addWidget(top);
  splitter->addWidget(bottom);
  auto* layout = new QVBoxLayout(page);
  layout->addWidget(splitter);

  connect(op_text_, &QLineEdit::textChanged, op_filter_, &QSortFilterProxyModel::setFilterFixedString);
  connect(op_view_->selectionModel(), &QItemSelectionModel::selectionChanged, this,
          &ResultsPanel::onOpSelectionChanged);
  connect(timeline_, &KernelTimeline::opClicked, this, &ResultsPanel::selectOp);
  connect(reset, &QPushButton::clicked, timeline_, &KernelTimeline::resetZoom);
  return page;
}

void ResultsPanel::setProfile(std::shared_ptr<const profiler::ProfileResult> profile) {
  if (!profile) {
    clear();
    return;
  }
  profile_ = std::move(profile);
  ranking_->setProfile(*profile_);
  ranking_view_->expandAll();
  recommendations_->setProfile(*profile_);
  recommendations_view_->resizeRowsToContents();
  ops_->setProfile(*profile_);
  op_view_->setColumnHidden(OpTableModel::GpuColumn, !ops_->gpu());
  op_view_->resizeColumnsToContents();
  timeline_->setProfile(*profile_);
  memory_->setProfile(*profile_);
  summary_->setText(summaryOf(*profile_));
}

void ResultsPanel::clear() {
  profile_.reset();
  ranking_->clear();
  recommendations_->clear();
  ops_->clear();
  timeline_->clear();
  memory_->clear();
  summary_->setText(tr("No profile yet: set the inputs, then Run › Profile (Ctrl+P)."));
}

QString ResultsPanel::summary() const { return summary_->text(); }

int ResultsPanel::selectedOp() const {
  const QModelIndexList rows = op_view_->selectionModel()->selectedRows();
  if (rows.isEmpty()) return -1;
  return rows.front().data(OpTableModel::OpIndexRole).toInt();
}

void ResultsPanel::selectOp(int op) {
  if (op < 0 || op >= ops_->rowCount()) return;
  QModelIndex index = op_filter_->mapFromSource(ops_->index(op, 0));
  if (!index.isValid()) {  // hidden by the filter
    op_text_->clear();
    index = op_filter_->mapFromSource(ops_->index(op, 0));
  }
  op_view_->selectRow(index.row());
  op_view_->scrollTo(index);
}

void ResultsPanel::focusFilter() {
  tabs_->setCurrentIndex(RankingTab);
  ranking_text_->setFocus(Qt::ShortcutFocusReason);
  ranking_text_->selectAll();
}

void ResultsPanel::onOpSelectionChanged() {
  const int op = selectedOp();
  timeline_->setSelectedOp(op);
  if (op >= 0) emit opSelected(op);
}

void ResultsPanel::showInOps(const QModelIndex& rankingIndex) {
  const int kind = rankingIndex.data(RankingModel::KindRole).toInt();
  if (kind == RankingModel::Group) return;
  // Module paths and category names both appear in the op table's columns.
  op_text_->setText(rankingIndex.data(RankingModel::KeyRole).toString());
  tabs_->setCurrentIndex(OpsTab);
}

}  // namespace mlopt::views
