#include "mlopt/views/input_spec_editor.h"

#include <QComboBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalBlocker>
#include <QTableWidget>
#include <QVBoxLayout>

#include <algorithm>

#include "format.h"
#include "mlopt/core/error.h"

namespace mlopt::views {
namespace {

// Input dtypes offered in a row, in the order of the menu.
const DType kInputDTypes[] = {DType::I64, DType::I32, DType::Bool, DType::F32, DType::F16,
                              DType::BF16, DType::F64, DType::I16, DType::I8, DType::U8};
// Model dtypes offered (weights are converted to these); "as saved" first.
const DType kModelDTypes[] = {DType::F32, DType::F16, DType::BF16};

// Red that reads on light and dark backgrounds alike.
const QColor kErrorColor(0xd9, 0x3f, 0x3f);

QString number(double v) {
  // Integers without a fraction, as InputSpec::to_string writes them.
  return v == static_cast<double>(static_cast<int64_t>(v)) ? QString::number(static_cast<qlonglong>(v))
                                                           : QString::number(v, 'g', 17);
}

QString signature(const std::vector<ArgumentInfo>& arguments) {
  QStringList names;
  for (const auto& a : arguments) {
    names << QString::fromStdString(a.name) + (a.has_default ? QStringLiteral("=…") : QString());
  }
  return QStringLiteral("forward(%1)").arg(names.join(QStringLiteral(", ")));
}

}  // namespace

InputSpecEditor::InputSpecEditor(QWidget* parent)
    : QWidget(parent),
      text_(new QLineEdit(this)),
      table_(new QTableWidget(0, ColumnCount, this)),
      remove_(new QPushButton(tr("Remove"), this)),
      status_(new QLabel(this)),
      device_(new QComboBox(this)),
      dtype_(new QComboBox(this)) {
  text_->setObjectName(QStringLiteral("specText"));
  text_->setPlaceholderText(QStringLiteral("ids:int64[1,128]"));
  syntax_help_ = tr("The input spec as on the command line (mlopt profile --input): NAME:DTYPE[D0,D1,...] "
                    "with an optional =LOW..HIGH range, several separated by ';'");
  text_->setToolTip(syntax_help_);
  table_->setObjectName(QStringLiteral("specTable"));
  table_->setHorizontalHeaderLabels({tr("Name"), tr("DType"), tr("Shape"), tr("Range")});
  table_->horizontalHeaderItem(ShapeColumn)->setToolTip(tr("Dimensions separated by commas, e.g. 1,128"));
  table_->horizontalHeaderItem(RangeColumn)->setToolTip(
      tr("Optional LOW..HIGH for random values; empty: token ids within the embedding, N(0,1) for floats"));
  table_->verticalHeader()->setVisible(false);
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  // Room for three inputs; a spec rarely has more.
  table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 10);
  const int rows_height = table_->verticalHeader()->defaultSectionSize() * 3 +
                          table_->horizontalHeader()->sizeHint().height() + 2 * table_->frameWidth();
  table_->setMinimumHeight(rows_height);
  table_->setMaximumHeight(rows_height + table_->verticalHeader()->defaultSectionSize());
  auto* add = new QPushButton(tr("Add input"), this);
  status_->setObjectName(QStringLiteral("specStatus"));
  status_->setWordWrap(true);
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  device_->setObjectName(QStringLiteral("deviceCombo"));
  device_->setToolTip(tr("Where the model runs; CUDA devices are listed when this build and machine have them"));
  dtype_->setObjectName(QStringLiteral("dtypeCombo"));
  dtype_->setToolTip(tr("Convert the model's floating-point weights to this type"));
  dtype_->addItem(tr("as saved"), QString());
  for (DType d : kModelDTypes) {
    const QString name = QString::fromStdString(to_string(d));
    dtype_->addItem(name, name);
  }
  setDevices({QStringLiteral("cpu")});

  auto* buttons = new QHBoxLayout;
  buttons->addWidget(add);
  buttons->addWidget(remove_);
  buttons->addStretch();
  auto* form = new QFormLayout;
  form->addRow(tr("Device"), device_);
  form->addRow(tr("Model dtype"), dtype_);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(new QLabel(tr("Inputs"), this));
  layout->addWidget(text_);
  layout->addWidget(table_);
  layout->addLayout(buttons);
  layout->addWidget(status_);
  layout->addLayout(form);

  connect(text_, &QLineEdit::textEdited, this, &InputSpecEditor::onTextEdited);
  connect(table_, &QTableWidget::itemChanged, this, &InputSpecEditor::onRowsEdited);
  connect(table_, &QTableWidget::itemSelectionChanged, this,
          [this] { remove_->setEnabled(!table_->selectionModel()->selectedRows().isEmpty()); });
  connect(add, &QPushButton::clicked, this, &InputSpecEditor::addRow);
  connect(remove_, &QPushButton::clicked, this, &InputSpecEditor::removeRow);
  connect(device_, &QComboBox::currentIndexChanged, this, [this] {
    if (!updating_) emit edited();
  });
  connect(dtype_, &QComboBox::currentIndexChanged, this, [this] {
    if (!updating_) emit edited();
  });
  remove_->setEnabled(false);
  validate({});
}

void InputSpecEditor::setArguments(std::vector<ArgumentInfo> arguments) {
  arguments_ = std::move(arguments);
  validate(text_->text());
}

void InputSpecEditor::setSpecText(const QString& text) {
  updating_ = true;
  text_->setText(text);
  table_->setRowCount(0);
  try {
    fillRows(InputSpec::parse(text.toStdString()));
  } catch (const Error&) {
    // Rows stay empty; the status line says what is wrong with the text.
  }
  updating_ = false;
  validate(text);
}

QString InputSpecEditor::specText() const { return text_->text().trimmed(); }

QString InputSpecEditor::message() const { return status_->text(); }

void InputSpecEditor::setDevices(const QStringList& devices) {
  const QString current = device_->currentData().toString();
  updating_ = true;
  device_->clear();
  for (const QString& d : devices) device_->addItem(d, d);
  const int keep = device_->findData(current);
  device_->setCurrentIndex(keep >= 0 ? keep : 0);
  updating_ = false;
}

QStringList InputSpecEditor::devices() const {
  QStringList out;
  for (int i = 0; i < device_->count(); ++i) out << device_->itemData(i).toString();
  return out;
}

Device InputSpecEditor::device() const {
  const QString text = device_->currentData().toString();
  return text.isEmpty() ? Device{} : parse_device(text.toStdString());
}

bool InputSpecEditor::setDevice(const Device& device) {
  const int index = device_->findData(QString::fromStdString(to_string(device)));
  if (index < 0) return false;
  updating_ = true;
  device_->setCurrentIndex(index);
  updating_ = false;
  return true;
}

std::optional<DType> InputSpecEditor::dtype() const {
  const QString text = dtype_->currentData().toString();
  if (text.isEmpty()) return std::nullopt;
  return parse_dtype(text.toStdString());
}

void InputSpecEditor::setDType(std::optional<DType> dtype) {
  const QString name = dtype ? QString::fromStdString(to_string(*dtype)) : QString();
  int index = dtype_->findData(name);
  if (index < 0) {
    // A dtype the menu does not list (e.g. a project saved with fp64).
    dtype_->addItem(name, name);
    index = dtype_->count() - 1;
  }
  updating_ = true;
  dtype_->setCurrentIndex(index);
  updating_ = false;
}

void InputSpecEditor::onTextEdited() {
  const QString text = text_->text();
  try {
    const InputSpec parsed = InputSpec::parse(text.toStdString());
    updating_ = true;
    table_->setRowCount(0);
    fillRows(parsed);
    updating_ = false;
  } catch (const Error&) {
    // Keep the rows as they were while the text does not parse.
  }
  validate(text);
  emit edited();
}

void InputSpecEditor::onRowsEdited() {
  if (updating_) return;
  const QString text = rowsText();
  updating_ = true;
  text_->setText(text);
  updating_ = false;
  validate(text);
  emit edited();
}

void InputSpecEditor::addRow() {
  TensorSpec t;
  t.name = arguments_.size() > static_cast<std::size_t>(table_->rowCount())
               ? arguments_[static_cast<std::size_t>(table_->rowCount())].name
               : std::string();
  t.dtype = DType::I64;
  t.shape = {1, 128};
  updating_ = true;
  appendRow(t);
  updating_ = false;
  onRowsEdited();
}

void InputSpecEditor::removeRow() {
  QList<int> rows;
  for (const QModelIndex& index : table_->selectionModel()->selectedRows()) rows << index.row();
  std::sort(rows.begin(), rows.end(), std::greater<>());
  updating_ = true;
  for (int row : rows) table_->removeRow(row);
  updating_ = false;
  onRowsEdited();
}

void InputSpecEditor::fillRows(const InputSpec& spec) {
  for (const auto& t : spec.tensors) appendRow(t);
}

void InputSpecEditor::appendRow(const TensorSpec& t) {
  const int row = table_->rowCount();
  table_->insertRow(row);
  table_->setItem(row, NameColumn, new QTableWidgetItem(QString::fromStdString(t.name)));
  QStringList dims;
  for (int64_t d : t.shape) dims << QString::number(d);
  table_->setItem(row, ShapeColumn, new QTableWidgetItem(dims.join(QLatin1Char(','))));
  table_->setItem(row, RangeColumn,
                  new QTableWidgetItem(t.low && t.high ? number(*t.low) + QStringLiteral("..") + number(*t.high)
                                                       : QString()));
  auto* combo = new QComboBox(table_);
  for (DType d : kInputDTypes) combo->addItem(QString::fromStdString(to_string(d)));
  combo->setCurrentText(QString::fromStdString(to_string(t.dtype)));
  connect(combo, &QComboBox::currentIndexChanged, this, &InputSpecEditor::onRowsEdited);
  table_->setCellWidget(row, DTypeColumn, combo);
}

QString InputSpecEditor::rowText(int row) const {
  auto cell = [&](int column) {
    const QTableWidgetItem* item = table_->item(row, column);
    return item ? item->text().trimmed() : QString();
  };
  const auto* combo = qobject_cast<QComboBox*>(table_->cellWidget(row, DTypeColumn));
  QString text = cell(NameColumn);
  if (!text.isEmpty()) text += QLatin1Char(':');
  text += (combo ? combo->currentText() : QString()) + QLatin1Char('[') + cell(ShapeColumn) + QLatin1Char(']');
  if (!cell(RangeColumn).isEmpty()) text += QLatin1Char('=') + cell(RangeColumn);
  return text;
}

QString InputSpecEditor::rowsText() const {
  QStringList parts;
  for (int row = 0; row < table_->rowCount(); ++row) parts << rowText(row);
  return parts.join(QStringLiteral("; "));
}

std::optional<QString> InputSpecEditor::argumentProblem(const InputSpec& spec) const {
  if (arguments_.empty()) return std::nullopt;
  const auto required = static_cast<std::size_t>(
      std::count_if(arguments_.begin(), arguments_.end(), [](const ArgumentInfo& a) { return !a.has_default; }));
  const std::size_t given = spec.tensors.size();
  if (given < required || given > arguments_.size()) {
    const QString takes = required != arguments_.size() ? tr("takes %1 to %2 inputs").arg(required).arg(arguments_.size())
                          : required == 1                ? tr("takes 1 input")
                                                         : tr("takes %1 inputs").arg(required);
    return tr("the model's %1 %2; the spec gives %3").arg(signature(arguments_), takes).arg(given);
  }
  for (const auto& t : spec.tensors) {
    if (t.name.empty()) continue;
    const bool known = std::any_of(arguments_.begin(), arguments_.end(),
                                   [&](const ArgumentInfo& a) { return a.name == t.name; });
    if (!known) {
      return tr("the model's %1 has no argument '%2'").arg(signature(arguments_), QString::fromStdString(t.name));
    }
  }
  return std::nullopt;
}

void InputSpecEditor::validate(const QString& text) {
  const bool was_valid = spec_.has_value();
  spec_.reset();
  problem_.clear();
  if (text.trimmed().isEmpty()) {
    problem_ = tr("Enter the model's inputs, e.g. ids:int64[1,128]");
  } else {
    try {
      InputSpec parsed = InputSpec::parse(text.toStdString());
      if (auto problem = argumentProblem(parsed)) {
        problem_ = *problem;
      } else {
        spec_ = std::move(parsed);
      }
    } catch (const Error& e) {
      problem_ = QString::fromUtf8(e.what());
    }
  }

  // Rows that do not parse on their own are marked.
  const QSignalBlocker block(table_);
  for (int row = 0; row < table_->rowCount(); ++row) {
    QString row_problem;
    try {
      InputSpec::parse(rowText(row).toStdString());
    } catch (const Error& e) {
      row_problem = QString::fromUtf8(e.what());
    }
    for (int column : {NameColumn, ShapeColumn, RangeColumn}) {
      if (QTableWidgetItem* item = table_->item(row, column)) {
        item->setBackground(row_problem.isEmpty() ? QBrush() : QBrush(kErrorColor.lighter(170)));
        item->setForeground(row_problem.isEmpty() ? QBrush() : QBrush(Qt::black));
        item->setToolTip(row_problem);
      }
    }
  }

  if (spec_) {
    const auto inputs = spec_->tensors.size();
    status_->setText((inputs == 1 ? tr("Valid: 1 input") : tr("Valid: %1 inputs").arg(inputs)) +
                     tr(", %1 tokens per forward").arg(spec_->tokens_per_forward()));
    status_->setStyleSheet({});
    text_->setToolTip(syntax_help_);
  } else {
    status_->setText(problem_);
    status_->setStyleSheet(QStringLiteral("color: %1").arg(kErrorColor.name()));
    text_->setToolTip(problem_);
  }
  if (was_valid != spec_.has_value()) emit validityChanged(spec_.has_value());
}

}  // namespace mlopt::views
