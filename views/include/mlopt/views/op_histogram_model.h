#pragma once
// How often each op kind occurs in the frozen graph (ModelInfo::op_histogram),
// as a two-column table, most frequent first.
#include <QAbstractTableModel>
#include <QString>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mlopt::views {

class OpHistogramModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column { OpColumn, CountColumn, ColumnCount };
  enum Role {
    // What a proxy should sort by: the op name, or the count as qlonglong.
    RawValueRole = Qt::UserRole,
  };

  explicit OpHistogramModel(QObject* parent = nullptr);

  // Replaces the rows: sorted by count, descending, then by op name.
  void setHistogram(const std::map<std::string, int64_t>& counts);

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

 private:
  struct Row {
    QString op;
    qlonglong count;
  };
  std::vector<Row> rows_;
};

}  // namespace mlopt::views
