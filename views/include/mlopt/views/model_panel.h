#pragma once
// The model view: a summary line, the module tree (parameters and bytes per
// module), the graph's ops by kind (count, output shapes) and the input-spec
// editor with the device and dtype.
#include <QWidget>

#include "mlopt/core/model_info.h"

class QLabel;
class QSplitter;
class QTableView;
class QTreeView;

namespace mlopt::views {

class GraphOpModel;
class InputSpecEditor;
class ModuleTreeModel;

class ModelPanel : public QWidget {
  Q_OBJECT

 public:
  explicit ModelPanel(QWidget* parent = nullptr);

  // Shows the model; the editor learns its forward's arguments.
  void setModelInfo(const ModelInfo& info);
  // Nothing loaded: says how to open a model.
  void clear();
  bool hasModel() const { return has_model_; }

  InputSpecEditor* inputEditor() const { return editor_; }
  ModuleTreeModel* moduleModel() const { return modules_; }
  GraphOpModel* opModel() const { return ops_; }
  QTreeView* moduleView() const { return module_view_; }
  QTableView* opView() const { return op_view_; }
  QSplitter* splitter() const { return splitter_; }
  QString summary() const;

 private:
  QLabel* summary_;
  ModuleTreeModel* modules_;
  GraphOpModel* ops_;
  QTreeView* module_view_;
  QTableView* op_view_;
  InputSpecEditor* editor_;
  QSplitter* splitter_;
  bool has_model_ = false;
};

}  // namespace mlopt::views
