#pragma once
// A model's module tree as a Qt tree model: one row per module, the root
// included, so the workbench can show where the parameters and bytes live.
#include <QAbstractItemModel>

#include <string>
#include <vector>

#include "mlopt/core/model_info.h"

namespace mlopt::views {

class ModuleTreeModel : public QAbstractItemModel {
  Q_OBJECT

 public:
  enum Column { ModuleColumn, TypeColumn, ParametersColumn, SizeColumn, ShareColumn, ColumnCount };
  enum Role {
    // What a proxy should sort by, in every column: qlonglong for Parameters
    // and Size, double (percent) for Share, the text for Module and Type.
    RawValueRole = Qt::UserRole,
    // The module's dotted path ("" for the root), in every column: the key
    // other panels use to point at a module.
    PathRole,
  };

  explicit ModuleTreeModel(QObject* parent = nullptr);

  // Shows `root` and its subtree; the model keeps its own copy.
  void setModules(ModuleInfo root);
  // Shows nothing (no rows), as before a model is loaded.
  void clear();

  // The module behind an index of any column; nullptr for an invalid index.
  const ModuleInfo* module(const QModelIndex& index) const;
  // Column 0 index of the module with this dotted path ("" = the root);
  // invalid if there is none.
  QModelIndex indexForPath(const std::string& path) const;

  QModelIndex index(int row, int column, const QModelIndex& parent = {}) const override;
  QModelIndex parent(const QModelIndex& child) const override;
  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

 private:
  // Flat, breadth-first view of root_: an index's internalId is a node id.
  // Ids and the ModuleInfo pointers stay valid until the next reset, which
  // is the only time root_ changes.
  struct Node {
    const ModuleInfo* info;
    int parent;       // node id; -1 for the root
    int row;          // row under the parent
    int first_child;  // node id of child 0; a node's children have consecutive ids
  };

  void rebuildNodes();
  const Node* node(const QModelIndex& index) const;
  QVariant display(const Node& n, int column) const;
  QVariant rawValue(const Node& n, int column) const;
  QVariant toolTip(const Node& n, int column) const;
  double sharePercent(const ModuleInfo& m) const;

  ModuleInfo root_;
  std::vector<Node> nodes_;  // empty while nothing is shown
};

}  // namespace mlopt::views
