#include "mlopt/views/module_tree_model.h"

#include <QLocale>

#include <utility>

#include "format.h"

namespace mlopt::views {
namespace {

bool isNumeric(int column) {
  return column == ModuleTreeModel::ParametersColumn || column == ModuleTreeModel::SizeColumn ||
         column == ModuleTreeModel::ShareColumn;
}

}  // namespace

ModuleTreeModel::ModuleTreeModel(QObject* parent) : QAbstractItemModel(parent) {}

void ModuleTreeModel::setModules(ModuleInfo root) {
  beginResetModel();
  root_ = std::move(root);
  rebuildNodes();
  endResetModel();
}

void ModuleTreeModel::clear() {
  beginResetModel();
  nodes_.clear();
  root_ = ModuleInfo{};
  endResetModel();
}

void ModuleTreeModel::rebuildNodes() {
  nodes_.clear();
  nodes_.push_back({&root_, -1, 0, 0});
  // Appending each node's children together keeps them consecutive, so
  // index() finds child `row` as first_child + row without a search.
  for (std::size_t id = 0; id < nodes_.size(); ++id) {
    const ModuleInfo* info = nodes_[id].info;  // push_back below may move nodes_
    nodes_[id].first_child = static_cast<int>(nodes_.size());
    for (std::size_t row = 0; row < info->children.size(); ++row) {
      nodes_.push_back({&info->children[row], static_cast<int>(id), static_cast<int>(row), 0});
    }
  }
}

const ModuleInfo* ModuleTreeModel::module(const QModelIndex& index) const {
  const Node* n = node(index);
  return n ? n->info : nullptr;
}

QModelIndex ModuleTreeModel::indexForPath(const std::string& path) const {
  for (std::size_t id = 0; id < nodes_.size(); ++id) {
    if (nodes_[id].info->path == path) return createIndex(nodes_[id].row, 0, static_cast<quintptr>(id));
  }
  return {};
}

const ModuleTreeModel::Node* ModuleTreeModel::node(const QModelIndex& index) const {
  if (!index.isValid() || index.model() != this) return nullptr;
  const quintptr id = index.internalId();
  return id < nodes_.size() ? &nodes_[id] : nullptr;
}

QModelIndex ModuleTreeModel::index(int row, int column, const QModelIndex& parent) const {
  if (!hasIndex(row, column, parent)) return {};
  if (!parent.isValid()) return createIndex(row, column, quintptr{0});  // the root is node 0
  const Node* p = node(parent);
  return createIndex(row, column, static_cast<quintptr>(p->first_child + row));
}

QModelIndex ModuleTreeModel::parent(const QModelIndex& child) const {
  const Node* n = node(child);
  if (!n || n->parent < 0) return {};
  // Parents are always column 0: only that column has children.
  return createIndex(nodes_[n->parent].row, 0, static_cast<quintptr>(n->parent));
}

int ModuleTreeModel::rowCount(const QModelIndex& parent) const {
  if (!parent.isValid()) return nodes_.empty() ? 0 : 1;
  if (parent.column() != 0) return 0;
  const Node* p = node(parent);
  return p ? static_cast<int>(p->info->children.size()) : 0;
}

int ModuleTreeModel::columnCount(const QModelIndex&) const { return ColumnCount; }

QVariant ModuleTreeModel::data(const QModelIndex& index, int role) const {
  const Node* n = node(index);
  if (!n) return {};
  switch (role) {
    case Qt::DisplayRole:
      return display(*n, index.column());
    case RawValueRole:
      return rawValue(*n, index.column());
    case PathRole:
      return QString::fromStdString(n->info->path);
    case Qt::ToolTipRole:
      return toolTip(*n, index.column());
    case Qt::TextAlignmentRole:
      if (isNumeric(index.column())) return int(Qt::AlignRight | Qt::AlignVCenter);
      return {};
    default:
      return {};
  }
}

QVariant ModuleTreeModel::display(const Node& n, int column) const {
  const ModuleInfo& m = *n.info;
  switch (column) {
    case ModuleColumn:
      return n.parent < 0 ? tr("(root)") : QString::fromStdString(m.name);
    case TypeColumn:
      return QString::fromStdString(m.type);
    case ParametersColumn:
      return detail::human_count(m.total_parameters);
    case SizeColumn:
      return detail::human_bytes(m.total_bytes);
    case ShareColumn:
      // A model without parameters has no meaningful share: leave it blank.
      return root_.total_parameters > 0 ? detail::percent(sharePercent(m)) : QString();
    default:
      return {};
  }
}

QVariant ModuleTreeModel::rawValue(const Node& n, int column) const {
  const ModuleInfo& m = *n.info;
  switch (column) {
    case ModuleColumn:
    case TypeColumn:
      return display(n, column);
    case ParametersColumn:
      return qlonglong{m.total_parameters};
    case SizeColumn:
      return qlonglong{m.total_bytes};
    case ShareColumn:
      return sharePercent(m);
    default:
      return {};
  }
}

QVariant ModuleTreeModel::toolTip(const Node& n, int column) const {
  const ModuleInfo& m = *n.info;
  const QLocale locale;
  switch (column) {
    case ModuleColumn:
      return m.path.empty() ? QVariant() : QVariant(QString::fromStdString(m.path));
    case ParametersColumn:
      // Totals count a tensor shared between modules once, so children may
      // add up to more than their parent: say what the number is.
      return tr("%1 parameters in this subtree (shared tensors counted once), %2 of its own")
          .arg(locale.toString(qlonglong{m.total_parameters}), locale.toString(qlonglong{m.own_parameters}));
    case SizeColumn:
      return tr("%1 of parameters, %2 of buffers")
          .arg(detail::human_bytes(m.total_bytes), detail::human_bytes(m.buffer_bytes));
    default:
      return {};
  }
}

double ModuleTreeModel::sharePercent(const ModuleInfo& m) const {
  if (root_.total_parameters <= 0) return 0.0;
  return 100.0 * static_cast<double>(m.total_parameters) / static_cast<double>(root_.total_parameters);
}

QVariant ModuleTreeModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal) return QAbstractItemModel::headerData(section, orientation, role);
  if (role == Qt::TextAlignmentRole && isNumeric(section)) return int(Qt::AlignRight | Qt::AlignVCenter);
  if (role != Qt::DisplayRole) return {};
  switch (section) {
    case ModuleColumn:
      return tr("Module");
    case TypeColumn:
      return tr("Type");
    case ParametersColumn:
      return tr("Parameters");
    case SizeColumn:
      return tr("Size");
    case ShareColumn:
      return tr("Share");
    default:
      return {};
  }
}

}  // namespace mlopt::views
