#include "mlopt/views/op_histogram_model.h"

#include <algorithm>

namespace mlopt::views {

OpHistogramModel::OpHistogramModel(QObject* parent) : QAbstractTableModel(parent) {}

void OpHistogramModel::setHistogram(const std::map<std::string, int64_t>& counts) {
  std::vector<Row> rows;
  rows.reserve(counts.size());
  for (const auto& [op, count] : counts) rows.push_back({QString::fromStdString(op), qlonglong{count}});
  // Ties by name keep the order stable from one load to the next.
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (a.count != b.count) return a.count > b.count;
    return a.op < b.op;
  });
  beginResetModel();
  rows_ = std::move(rows);
  endResetModel();
}

int OpHistogramModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int OpHistogramModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant OpHistogramModel::data(const QModelIndex& index, int role) const {
  // Not checkIndex(): it logs a warning for the invalid index views probe with.
  if (!index.isValid() || index.model() != this || index.row() >= rowCount() || index.column() >= ColumnCount) {
    return {};
  }
  const Row& row = rows_[static_cast<std::size_t>(index.row())];
  const bool isCount = index.column() == CountColumn;
  switch (role) {
    case Qt::DisplayRole:
      // Plain digits: a QVariant number would be shown with locale grouping.
      return isCount ? QVariant(QString::number(row.count)) : QVariant(row.op);
    case RawValueRole:
      return isCount ? QVariant(row.count) : QVariant(row.op);
    case Qt::TextAlignmentRole:
      return isCount ? QVariant(int(Qt::AlignRight | Qt::AlignVCenter)) : QVariant();
    default:
      return {};
  }
}

QVariant OpHistogramModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal) return QAbstractTableModel::headerData(section, orientation, role);
  if (role == Qt::TextAlignmentRole && section == CountColumn) return int(Qt::AlignRight | Qt::AlignVCenter);
  if (role != Qt::DisplayRole) return {};
  switch (section) {
    case OpColumn:
      return tr("Op");
    case CountColumn:
      return tr("Count");
    default:
      return {};
  }
}

}  // namespace mlopt::views
