#pragma once
// The profile's recommendations: which transform, what it is expected to
// save per iteration and the speed-up, where it applies and why.
#include <QAbstractTableModel>

#include <vector>

#include "mlopt/profiler/profile_result.h"

namespace mlopt::views {

class RecommendationsModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column { TransformColumn, SavingColumn, SpeedupColumn, ModulesColumn, ReasonColumn, ColumnCount };
  enum Role {
    // What a proxy sorts by: double µs (Saving), double (Speedup), int
    // (Modules: how many), the text otherwise.
    RawValueRole = Qt::UserRole,
  };

  explicit RecommendationsModel(QObject* parent = nullptr);

  void setProfile(const profiler::ProfileResult& profile);
  void clear();

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

 private:
  std::vector<profiler::Recommendation> rows_;
};

}  // namespace mlopt::views
