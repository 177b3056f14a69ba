#include "mlopt/views/ranking_model.h"

#include "format.h"

namespace mlopt::views {
namespace {

bool isNumeric(int column) {
  return column == RankingModel::TimeColumn || column == RankingModel::ShareColumn ||
         column == RankingModel::SavingColumn;
}

QString boundText(profiler::Bound bound) { return QString::fromStdString(profiler::to_string(bound)); }

QString boundToolTip(profiler::Bound bound) {
  switch (bound) {
    case profiler::Bound::Compute:
      return RankingModel::tr("Most of this time is compute-bound: the work is limited by arithmetic throughput");
    case profiler::Bound::Memory:
      return RankingModel::tr("Most of this time is memory-bound: the work is limited by memory bandwidth");
    case profiler::Bound::Latency:
      return RankingModel::tr("Most of this time is latency-bound: ops too short to use the device (launch "
                              "overhead, small shapes)");
    case profiler::Bound::Unknown:
      return RankingModel::tr("No cost model for most of this time's ops");
  }
  return {};
}

}  // namespace

RankingModel::RankingModel(QObject* parent) : QAbstractItemModel(parent) {}

void RankingModel::setProfile(const profiler::ProfileResult& profile) {
  beginResetModel();
  categories_.clear();
  modules_.clear();
  for (const auto& c : profile.categories) {
    categories_.push_back({QString::fromStdString(c.category), c.time_us, c.share, c.bound, c.potential_saving_us});
  }
  for (const auto& m : profile.modules) {
    modules_.push_back({QString::fromStdString(m.module_path), m.time_us, m.share, m.bound, m.potential_saving_us});
  }
  loaded_ = true;
  endResetModel();
}

void RankingModel::clear() {
  beginResetModel();
  categories_.clear();
  modules_.clear();
  loaded_ = false;
  endResetModel();
}

QModelIndex RankingModel::categoryIndex(const QString& category) const {
  for (std::size_t row = 0; row < categories_.size(); ++row) {
    if (categories_[row].name == category) return createIndex(static_cast<int>(row), 0, quintptr{1 + CategoriesGroup});
  }
  return {};
}

QModelIndex RankingModel::moduleIndex(const QString& path) const {
  for (std::size_t row = 0; row < modules_.size(); ++row) {
    if (modules_[row].name == path) return createIndex(static_cast<int>(row), 0, quintptr{1 + ModulesGroup});
  }
  return {};
}

const std::vector<RankingModel::Row>* RankingModel::rowsOf(quintptr id) const {
  if (id == 1 + CategoriesGroup) return &categories_;
  if (id == 1 + ModulesGroup) return &modules_;
  return nullptr;
}

QModelIndex RankingModel::index(int row, int column, const QModelIndex& parent) const {
  if (!hasIndex(row, column, parent)) return {};
  if (!parent.isValid()) return createIndex(row, column, quintptr{0});
  return createIndex(row, column, quintptr{1} + static_cast<quintptr>(parent.row()));
}

QModelIndex RankingModel::parent(const QModelIndex& child) const {
  if (!child.isValid() || child.internalId() == 0) return {};
  return createIndex(static_cast<int>(child.internalId() - 1), 0, quintptr{0});
}

int RankingModel::rowCount(const QModelIndex& parent) const {
  if (!loaded_) return 0;
  if (!parent.isValid()) return GroupCount;
  // Only a group row's column 0 has children.
  if (parent.internalId() != 0 || parent.column() != 0) return 0;
  const auto* rows = rowsOf(quintptr{1} + static_cast<quintptr>(parent.row()));
  return rows ? static_cast<int>(rows->size()) : 0;
}

int RankingModel::columnCount(const QModelIndex&) const { return ColumnCount; }

QVariant RankingModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.model() != this) return {};
  if (index.internalId() == 0) return groupData(index.row(), index.column(), role);
  const auto* rows = rowsOf(index.internalId());
  if (!rows || index.row() >= static_cast<int>(rows->size())) return {};
  const RowKind kind = index.internalId() == 1 + CategoriesGroup ? Category : Module;
  return rowData(kind, (*rows)[static_cast<std::size_t>(index.row())], index.column(), role);
}

QVariant RankingModel::groupData(int group, int column, int role) const {
  const bool categories = group == CategoriesGroup;
  const QString title = categories ? tr("Categories") : tr("Modules");
  switch (role) {
    case Qt::DisplayRole:
      if (column != NameColumn) return {};
      return QStringLiteral("%1 (%2)").arg(title).arg(categories ? categories_.size() : modules_.size());
    case Qt::ToolTipRole:
      if (column != NameColumn) return {};
      return categories ? tr("Where the iteration's time goes, by kind of work; the categories add up to the "
                             "iteration")
                        : tr("Time per module at the profile's grouping depth");
    case RawValueRole:
      return group;
    case KindRole:
      return int(Group);
    case KeyRole:
      return title;
    default:
      return {};
  }
}

QVariant RankingModel::rowData(RowKind kind, const Row& row, int column, int role) const {
  switch (role) {
    case Qt::DisplayRole:
      switch (column) {
        case NameColumn:
          return kind == Module && row.name.isEmpty() ? tr("(root)") : row.name;
        case TimeColumn:
          return detail::milliseconds(row.time_us);
        case ShareColumn:
          return detail::percent(100.0 * row.share);
        case BoundColumn:
          return boundText(row.bound);
        case SavingColumn:
          return detail::milliseconds(row.saving_us);
        default:
          return {};
      }
    case RawValueRole:
      switch (column) {
        case NameColumn:
          return row.name;
        case TimeColumn:
          return row.time_us;
        case ShareColumn:
          return 100.0 * row.share;
        case BoundColumn:
          return boundText(row.bound);
        case SavingColumn:
          return row.saving_us;
        default:
          return {};
      }
    case Qt::ToolTipRole:
      if (column == BoundColumn) return boundToolTip(row.bound);
      if (column == SavingColumn) {
        return tr("Time above what this work would take near the device's ceilings: what an optimization "
                  "could win back, per iteration");
      }
      if (column == NameColumn && kind == Module) return row.name;
      return {};
    case Qt::TextAlignmentRole:
      if (isNumeric(column)) return int(Qt::AlignRight | Qt::AlignVCenter);
      return {};
    case KindRole:
      return int(kind);
    case KeyRole:
      return row.name;
    default:
      return {};
  }
}

QVariant RankingModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal) return QAbstractItemModel::headerData(section, orientation, role);
  if (role == Qt::TextAlignmentRole && isNumeric(section)) return int(Qt::AlignRight | Qt::AlignVCenter);
  if (role != Qt::DisplayRole) return {};
  switch (section) {
    case NameColumn:
      return tr("Category / module");
    case TimeColumn:
      return tr("Time (ms)");
    case ShareColumn:
      return tr("Share");
    case BoundColumn:
      return tr("Bound");
    case SavingColumn:
      return tr("Potential saving (ms)");
    default:
      return {};
  }
}

// --- RankingFilterModel ---------------------------------------------------------

RankingFilterModel::RankingFilterModel(QObject* parent) : QSortFilterProxyModel(parent) {
  setSortRole(RankingModel::RawValueRole);
  // A group row stays while one of its rows passes the filter.
  setRecursiveFilteringEnabled(true);
}

void RankingFilterModel::setText(const QString& text) {
  if (text == text_) return;
  text_ = text;
  invalidateFilter();
}

void RankingFilterModel::setShow(Show show) {
  if (show == show_) return;
  show_ = show;
  invalidateFilter();
}

bool RankingFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const {
  const QModelIndex index = sourceModel()->index(sourceRow, 0, sourceParent);
  const int kind = index.data(RankingModel::KindRole).toInt();
  // Group rows show only through their rows (recursive filtering).
  if (kind == RankingModel::Group) return false;
  if (show_ == ShowCategories && kind != RankingModel::Category) return false;
  if (show_ == ShowModules && kind != RankingModel::Module) return false;
  return text_.isEmpty() || index.data(RankingModel::KeyRole).toString().contains(text_, Qt::CaseInsensitive);
}

bool RankingFilterModel::lessThan(const QModelIndex& left, const QModelIndex& right) const {
  // Groups stay Categories first, Modules second, in either sort order: the
  // view reverses lessThan for a descending sort, so answer reversed too.
  if (!left.parent().isValid() && !right.parent().isValid()) {
    const bool less = left.row() < right.row();
    return sortOrder() == Qt::AscendingOrder ? less : !less;
  }
  return QSortFilterProxyModel::lessThan(left, right);
}

}  // namespace mlopt::views
