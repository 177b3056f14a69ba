#include "mlopt/views/graph_op_model.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "format.h"

namespace mlopt::views {

GraphOpModel::GraphOpModel(QObject* parent) : QAbstractTableModel(parent) {}

void GraphOpModel::setModelInfo(const ModelInfo& info) {
  struct Acc {
    qlonglong count = 0;
    std::set<std::string> modules;
    std::map<QString, int> shapes;  // "[1, 128] fp32" -> nodes producing it
  };
  std::map<std::string, Acc> kinds;
  bool has_shapes = false;
  for (const auto& node : info.nodes) {
    if (node.kind == "prim::Constant") continue;  // data, not work (as op_histogram)
    Acc& a = kinds[node.kind];
    ++a.count;
    a.modules.insert(node.module_path);
    for (const auto& out : node.outputs) {
      if (!out.shape) continue;
      has_shapes = true;
      QString s = detail::shape(*out.shape);
      if (out.dtype) s += QLatin1Char(' ') + QString::fromStdString(to_string(*out.dtype));
      ++a.shapes[s];
    }
  }
  std::vector<Row> rows;
  rows.reserve(kinds.size());
  for (auto& [kind, a] : kinds) {
    std::vector<std::pair<QString, int>> shapes(a.shapes.begin(), a.shapes.end());
    std::stable_sort(shapes.begin(), shapes.end(), [](const auto& x, const auto& y) { return x.second > y.second; });
    Row row{QString::fromStdString(kind), a.count, static_cast<qlonglong>(a.modules.size()), {}};
    for (const auto& [s, n] : shapes) row.shapes << (n > 1 ? QStringLiteral("%1 ×%2").arg(s).arg(n) : s);
    rows.push_back(std::move(row));
  }
  // Ties by name keep the order stable from one load to the next.
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (a.count != b.count) return a.count > b.count;
    return a.kind < b.kind;
  });
  beginResetModel();
  rows_ = std::move(rows);
  has_shapes_ = has_shapes;
  endResetModel();
}

void GraphOpModel::clear() {
  beginResetModel();
  rows_.clear();
  has_shapes_ = false;
  endResetModel();
}

int GraphOpModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int GraphOpModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant GraphOpModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.model() != this || index.row() >= rowCount() || index.column() >= ColumnCount) {
    return {};
  }
  const Row& row = rows_[static_cast<std::size_t>(index.row())];
  const bool numeric = index.column() == CountColumn || index.column() == ModulesColumn;
  switch (role) {
    case Qt::DisplayRole:
      switch (index.column()) {
        case KindColumn:
          return row.kind;
        case CountColumn:
          return QString::number(row.count);
        case ModulesColumn:
          return QString::number(row.modules);
        case ShapesColumn: {
          QStringList shown = row.shapes.mid(0, kShapesShown);
          if (row.shapes.size() > kShapesShown) shown << tr("+%1 more").arg(row.shapes.size() - kShapesShown);
          return shown.join(QStringLiteral("; "));
        }
        default:
          return {};
      }
    case RawValueRole:
      if (index.column() == CountColumn) return row.count;
      if (index.column() == ModulesColumn) return row.modules;
      return data(index, Qt::DisplayRole);
    case Qt::ToolTipRole:
      if (index.column() == ShapesColumn && !row.shapes.isEmpty()) return row.shapes.join(QLatin1Char('\n'));
      return {};
    case Qt::TextAlignmentRole:
      return numeric ? QVariant(int(Qt::AlignRight | Qt::AlignVCenter)) : QVariant();
    default:
      return {};
  }
}

QVariant GraphOpModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal) return QAbstractTableModel::headerData(section, orientation, role);
  const bool numeric = section == CountColumn || section == ModulesColumn;
  if (role == Qt::TextAlignmentRole && numeric) return int(Qt::AlignRight | Qt::AlignVCenter);
  if (role == Qt::ToolTipRole && section == ShapesColumn) {
    return tr("Output shapes and dtypes, from a forward on the input spec (empty until the spec is valid)");
  }
  if (role != Qt::DisplayRole) return {};
  switch (section) {
    case KindColumn:
      return tr("Op");
    case CountColumn:
      return tr("Count");
    case ModulesColumn:
      return tr("Modules");
    case ShapesColumn:
      return tr("Output shapes");
    default:
      return {};
  }
}

}  // namespace mlopt::views
