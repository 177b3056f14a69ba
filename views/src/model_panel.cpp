#include "mlopt/views/model_panel.h"

#include <QFileInfo>
#include <QHeaderView>
#include <QLabel>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QTableView>
#include <QTreeView>
#include <QVBoxLayout>

#include "format.h"
#include "mlopt/views/graph_op_model.h"
#include "mlopt/views/input_spec_editor.h"
#include "mlopt/views/module_tree_model.h"

namespace mlopt::views {
namespace {

QSortFilterProxyModel* sorted(QAbstractItemModel* source, QObject* parent) {
  auto* proxy = new QSortFilterProxyModel(parent);
  proxy->setSourceModel(source);
  proxy->setSortRole(Qt::UserRole);  // every model here sorts by its RawValueRole
  return proxy;
}

QWidget* titled(const QString& title, QWidget* content, QWidget* parent) {
  auto* box = new QWidget(parent);
  auto* layout = new QVBoxLayout(box);
  layout->setContentsMargins(0, 0, 0, 0);
  auto* label = new QLabel(QStringLiteral("<b>%1</b>").arg(title), box);
  layout->addWidget(label);
  layout->addWidget(content);
  return box;
}

}  // namespace

ModelPanel::ModelPanel(QWidget* parent)
    : QWidget(parent),
      summary_(new QLabel(this)),
      modules_(new ModuleTreeModel(this)),
      ops_(new GraphOpModel(this)),
      module_view_(new QTreeView(this)),
      op_view_(new QTableView(this)),
      editor_(new InputSpecEditor(this)),
      splitter_(new QSplitter(Qt::Vertical, this)) {
  summary_->setObjectName(QStringLiteral("modelSummary"));
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);

  module_view_->setObjectName(QStringLiteral("moduleTree"));
  module_view_->setModel(sorted(modules_, this));
  module_view_->setSortingEnabled(true);
  module_view_->sortByColumn(-1, Qt::AscendingOrder);  // the model's own order until a header is clicked
  module_view_->setUniformRowHeights(true);
  module_view_->setAlternatingRowColors(true);
  module_view_->header()->setSectionResizeMode(QHeaderView::ResizeToContents);

  op_view_->setObjectName(QStringLiteral("graphOps"));
  op_view_->setModel(sorted(ops_, this));
  op_view_->setSortingEnabled(true);
  op_view_->sortByColumn(-1, Qt::AscendingOrder);
  op_view_->setAlternatingRowColors(true);
  op_view_->setSelectionBehavior(QAbstractItemView::SelectRows);
  op_view_->setWordWrap(false);
  op_view_->verticalHeader()->setVisible(false);
  op_view_->verticalHeader()->setDefaultSectionSize(op_view_->fontMetrics().height() + 6);
  op_view_->horizontalHeader()->setStretchLastSection(true);

  editor_->setObjectName(QStringLiteral("inputSpecEditor"));
  splitter_->setObjectName(QStringLiteral("modelSplitter"));
  splitter_->addWidget(titled(tr("Modules"), module_view_, splitter_));
  splitter_->addWidget(titled(tr("Graph ops"), op_view_, splitter_));
  splitter_->addWidget(titled(tr("Run"), editor_, splitter_));
  splitter_->setStretchFactor(0, 3);
  splitter_->setStretchFactor(1, 2);
  splitter_->setStretchFactor(2, 0);
  setMinimumWidth(320);

  auto* layout = new QVBoxLayout(this);
  layout->addWidget(summary_);
  layout->addWidget(splitter_, 1);
  clear();
}

void ModelPanel::setModelInfo(const ModelInfo& info) {
  modules_->setModules(info.root);
  module_view_->expandToDepth(1);
  ops_->setModelInfo(info);
  editor_->setArguments(info.inputs);
  const QString type = QString::fromStdString(info.root.type);
  summary_->setText(tr("<b>%1</b> — %2, %3 parameters (%4), %5 on %6")
                        .arg(QFileInfo(QString::fromStdString(info.path)).fileName().toHtmlEscaped(),
                             type.isEmpty() ? tr("model") : type.toHtmlEscaped(),
                             detail::human_count(info.root.total_parameters),
                             detail::human_bytes(info.root.total_bytes),
                             QString::fromStdString(to_string(info.dtype)),
                             QString::fromStdString(to_string(info.device))));
  summary_->setToolTip(QString::fromStdString(info.path));
  has_model_ = true;
}

void ModelPanel::clear() {
  modules_->clear();
  ops_->clear();
  editor_->setArguments({});
  summary_->setText(tr("No model open: File › Open model… (Ctrl+O), or drop a .pt or .mlopt file on the window."));
  summary_->setToolTip({});
  has_model_ = false;
}

QString ModelPanel::summary() const { return summary_->text(); }

}  // namespace mlopt::views
