#include "mlopt/views/recommendations_model.h"

#include <QStringList>

#include "format.h"

namespace mlopt::views {
namespace {

bool isNumeric(int column) {
  return column == RecommendationsModel::SavingColumn || column == RecommendationsModel::SpeedupColumn ||
         column == RecommendationsModel::ModulesColumn;
}

QString modulesText(const profiler::Recommendation& r) {
  if (r.modules.empty()) return {};
  if (r.modules.size() == 1) return QString::fromStdString(r.modules.front());
  return RecommendationsModel::tr("%1 modules").arg(r.modules.size());
}

QString modulesToolTip(const profiler::Recommendation& r) {
  QStringList all;
  for (const auto& m : r.modules) all << (m.empty() ? RecommendationsModel::tr("(root)") : QString::fromStdString(m));
  return all.join(QLatin1Char('\n'));
}

}  // namespace

RecommendationsModel::RecommendationsModel(QObject* parent) : QAbstractTableModel(parent) {}

void RecommendationsModel::setProfile(const profiler::ProfileResult& profile) {
  beginResetModel();
  rows_ = profile.recommendations;
  endResetModel();
}

void RecommendationsModel::clear() {
  beginResetModel();
  rows_.clear();
  endResetModel();
}

int RecommendationsModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

int RecommendationsModel::columnCount(const QModelIndex& parent) const { return parent.isValid() ? 0 : ColumnCount; }

QVariant RecommendationsModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.model() != this || index.row() >= rowCount() || index.column() >= ColumnCount) {
    return {};
  }
  const auto& r = rows_[static_cast<std::size_t>(index.row())];
  switch (role) {
    case Qt::DisplayRole:
      switch (index.column()) {
        case TransformColumn:
          return QString::fromStdString(r.transform);
        case SavingColumn:
          return detail::milliseconds(r.expected_saving_us);
        case SpeedupColumn:
          return detail::fixed(r.expected_speedup, 2) + QLatin1Char('x');
        case ModulesColumn:
          return modulesText(r);
        case ReasonColumn:
          return QString::fromStdString(r.reason);
        default:
          return {};
      }
    case RawValueRole:
      switch (index.column()) {
        case SavingColumn:
          return r.expected_saving_us;
        case SpeedupColumn:
          return r.expected_speedup;
        case ModulesColumn:
          return static_cast<int>(r.modules.size());
        default:
          return data(index, Qt::DisplayRole);
      }
    case Qt::ToolTipRole:
      if (index.column() == ModulesColumn) return modulesToolTip(r);
      if (index.column() == ReasonColumn) return QString::fromStdString(r.reason);
      return {};
    case Qt::TextAlignmentRole:
      if (isNumeric(index.column())) return int(Qt::AlignRight | Qt::AlignVCenter);
      return {};
    default:
      return {};
  }
}

QVariant RecommendationsModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal) return QAbstractTableModel::headerData(section, orientation, role);
  if (role == Qt::TextAlignmentRole && isNumeric(section)) return int(Qt::AlignRight | Qt::AlignVCenter);
  if (role != Qt::DisplayRole) return {};
  switch (section) {
    case TransformColumn:
      return tr("Transform");
    case SavingColumn:
      return tr("Saving (ms)");
    case SpeedupColumn:
      return tr("Speed-up");
    case ModulesColumn:
      return tr("Where");
    case ReasonColumn:
      return tr("Why");
    default:
      return {};
  }
}

}  // namespace mlopt::views
