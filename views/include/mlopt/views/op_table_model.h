#pragma once
// The profile's ops (one row per graph node's op: kind and module), with
// calls, self and total CPU time, GPU time, input shapes, roofline bound and
// achieved rates. Row r is ProfileResult::ops[r], so the timeline's op index
// is a row number here.
#include <QAbstractTableModel>

#include <vector>

#include "mlopt/profiler/profile_result.h"

namespace mlopt::views {

class OpTableModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column {
    OpColumn,
    ModuleColumn,
    CategoryColumn,
    CallsColumn,
    SelfColumn,     // CPU self time, ms per iteration
    TotalColumn,    // CPU total time (children included)
    GpuColumn,      // its kernels' time; blank on CPU profiles
    ShapesColumn,   // input shapes of the first call
    BoundColumn,
    TflopsColumn,   // achieved TFLOP/s
    GbpsColumn,     // achieved GB/s
    CeilingColumn,  // share of the ceiling that binds it
    ColumnCount
  };
  enum Role {
    // What a proxy sorts by: double for the numbers (µs for times, percent
    // for the ceiling share), the text otherwise.
    RawValueRole = Qt::UserRole,
    // The row's index into ProfileResult::ops (int), in every column.
    OpIndexRole,
  };

  explicit OpTableModel(QObject* parent = nullptr);

  // Copies the profile's ops; GPU columns are filled when it has GPU time.
  void setProfile(const profiler::ProfileResult& profile);
  void clear();

  bool gpu() const { return gpu_; }
  const profiler::OpSummary* op(int row) const;

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

 private:
  QVariant display(const profiler::OpSummary& op, int column) const;
  QVariant raw(const profiler::OpSummary& op, int column) const;

  std::vector<profiler::OpSummary> ops_;
  bool gpu_ = false;
};

}  // namespace mlopt::views
