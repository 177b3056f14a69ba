#pragma once
// Edits what a profile runs: the input spec (one row per input tensor: name,
// dtype, shape, optional value range; or the spec as one line of text, the
// CLI's --input syntax, kept in step with the rows), the device and the
// model's dtype. Validates as the user types: the spec must parse
// (InputSpec::parse, whose message is shown) and fit the model's forward
// (argument count and names).
#include <QStringList>
#include <QWidget>

#include <optional>
#include <vector>

#include "mlopt/core/dtype.h"
#include "mlopt/core/input_spec.h"
#include "mlopt/core/model.h"
#include "mlopt/core/model_info.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QTableWidget;

namespace mlopt::views {

class InputSpecEditor : public QWidget {
  Q_OBJECT

 public:
  enum Column { NameColumn, DTypeColumn, ShapeColumn, RangeColumn, ColumnCount };

  explicit InputSpecEditor(QWidget* parent = nullptr);

  // The forward's arguments (without self), to check the spec against;
  // empty: only the syntax is checked.
  void setArguments(std::vector<ArgumentInfo> arguments);

  // Replaces the spec (rows and text); does not emit edited().
  void setSpecText(const QString& text);
  QString specText() const;
  bool isValid() const { return spec_.has_value(); }
  // The parsed spec while valid.
  const std::optional<InputSpec>& spec() const { return spec_; }
  // What the status line says: the problem, or a summary of a valid spec.
  QString message() const;

  // Devices offered ("cpu", "cuda:0", ...); the first is the default.
  void setDevices(const QStringList& devices);
  QStringList devices() const;
  Device device() const;
  // False (and no change) when the device is not offered.
  bool setDevice(const Device& device);

  // The model's dtype; std::nullopt: as saved in the file.
  std::optional<DType> dtype() const;
  void setDType(std::optional<DType> dtype);

  LoadOptions loadOptions() const { return {dtype(), device()}; }

  // For tests and keyboard users: the parts of the editor.
  QLineEdit* textEdit() const { return text_; }
  QTableWidget* table() const { return table_; }
  QComboBox* deviceCombo() const { return device_; }
  QComboBox* dtypeCombo() const { return dtype_; }

 signals:
  // The user changed the spec, the device or the dtype.
  void edited();
  void validityChanged(bool valid);

 private:
  void onTextEdited();
  void onRowsEdited();
  void addRow();
  void removeRow();
  void fillRows(const InputSpec& spec);
  void appendRow(const TensorSpec& tensor);
  QString rowText(int row) const;
  QString rowsText() const;
  void validate(const QString& text);
  std::optional<QString> argumentProblem(const InputSpec& spec) const;

  QLineEdit* text_;
  QTableWidget* table_;
  QPushButton* remove_;
  QLabel* status_;
  QComboBox* device_;
  QComboBox* dtype_;
  std::vector<ArgumentInfo> arguments_;
  std::optional<InputSpec> spec_;
  QString problem_;
  QString syntax_help_;
  bool updating_ = false;  // filling widgets from code: not an edit
};

}  // namespace mlopt::views
