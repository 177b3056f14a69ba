#pragma once
// The profile's bottleneck ranking as a two-level tree: a "Categories" group
// (attention, mlp, ..., adding up to the iteration) and a "Modules" group
// (time per module at the profile's grouping depth), each row with its time,
// share, bound and potential saving. RankingFilterModel sorts it by the raw
// numbers and filters it by text and by group.
#include <QAbstractItemModel>
#include <QSortFilterProxyModel>
#include <QString>

#include <vector>

#include "mlopt/profiler/profile_result.h"

namespace mlopt::views {

class RankingModel : public QAbstractItemModel {
  Q_OBJECT

 public:
  enum Column { NameColumn, TimeColumn, ShareColumn, BoundColumn, SavingColumn, ColumnCount };
  enum Role {
    // What a proxy sorts by: double µs for Time and Saving, double percent for
    // Share, the text for Name and Bound. Group rows: their row number.
    RawValueRole = Qt::UserRole,
    // Group, Category or Module (a RowKind as int), in every column.
    KindRole,
    // The category name or the module's dotted path, in every column; the
    // group's title for group rows.
    KeyRole,
  };
  enum RowKind { Group, Category, Module };
  // The group rows, in this order.
  enum GroupRow { CategoriesGroup, ModulesGroup, GroupCount };

  explicit RankingModel(QObject* parent = nullptr);

  // Copies the profile's categories and modules.
  void setProfile(const profiler::ProfileResult& profile);
  // No rows, as before a profile.
  void clear();

  // Column 0 index of a category row or module row by name/path; invalid if none.
  QModelIndex categoryIndex(const QString& category) const;
  QModelIndex moduleIndex(const QString& path) const;

  QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
  QModelIndex parent(const QModelIndex& child) const override;
  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

 private:
  struct Row {
    QString name;
    double time_us = 0;
    double share = 0;  // fraction of the iteration
    profiler::Bound bound = profiler::Bound::Unknown;
    double saving_us = 0;
  };
  // internalId: 0 for group rows, 1 + group for the rows under a group.
  const std::vector<Row>* rowsOf(quintptr id) const;
  QVariant groupData(int group, int column, int role) const;
  QVariant rowData(RowKind kind, const Row& row, int column, int role) const;

  bool loaded_ = false;
  std::vector<Row> categories_;
  std::vector<Row> modules_;
};

// Sorts by RankingModel::RawValueRole (group rows keep their order whichever
// way a column is sorted) and shows the rows whose name contains the filter
// text (any case), in the groups asked for. A group row shows while one of
// its rows does.
class RankingFilterModel : public QSortFilterProxyModel {
  Q_OBJECT

 public:
  enum Show { ShowAll, ShowCategories, ShowModules };

  explicit RankingFilterModel(QObject* parent = nullptr);

  void setText(const QString& text);
  QString text() const { return text_; }
  void setShow(Show show);
  Show show() const { return show_; }

 protected:
  bool filterAcceptsRow(int sourceRow, const QModelIndex& sourceParent) const override;
  bool lessThan(const QModelIndex& left, const QModelIndex& right) const override;

 private:
  QString text_;
  Show show_ = ShowAll;
};

}  // namespace mlopt::views
