#pragma once
// The frozen graph's ops by kind: how many nodes, in how many modules, and
// the output shapes they produce (known once the model was analyzed with an
// input spec, Model::analyze). Most frequent first; prim::Constant left out.
#include <QAbstractTableModel>
#include <QString>
#include <QStringList>

#include <vector>

#include "mlopt/core/model_info.h"

namespace mlopt::views {

class GraphOpModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column { KindColumn, CountColumn, ModulesColumn, ShapesColumn, ColumnCount };
  enum Role {
    // What a proxy sorts by: qlonglong for Count and Modules, the text otherwise.
    RawValueRole = Qt::UserRole,
  };
  // Shapes shown per row; the tooltip lists them all.
  static constexpr int kShapesShown = 3;

  explicit GraphOpModel(QObject* parent = nullptr);

  void setModelInfo(const ModelInfo& info);
  void clear();
  // True when some node carries an output shape (the model was analyzed).
  bool hasShapes() const { return has_shapes_; }

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

 private:
  struct Row {
    QString kind;
    qlonglong count = 0;
    qlonglong modules = 0;
    QStringList shapes;  // distinct output shapes ("[1, 128, 768] fp32 ×12"), most frequent first
  };
  std::vector<Row> rows_;
  bool has_shapes_ = false;
};

}  // namespace mlopt::views
