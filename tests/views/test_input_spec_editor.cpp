// InputSpecEditor: the text and the rows stay in step, problems are shown as
// the user types (the parser's message; a spec that does not fit the
// forward's arguments), and the device and dtype menus.
#include <gtest/gtest.h>

#include <QComboBox>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTest>

#include "mlopt/views/input_spec_editor.h"
#include "qt_test_support.h"

using mlopt::test::ensure_app;
using mlopt::views::InputSpecEditor;

namespace {

std::vector<mlopt::ArgumentInfo> gpt2_arguments() {
  mlopt::ArgumentInfo ids;
  ids.name = "ids";
  ids.type = "Tensor";
  mlopt::ArgumentInfo mask;
  mask.name = "mask";
  mask.type = "Optional[Tensor]";
  mask.has_default = true;
  return {ids, mask};
}

QString cell(const InputSpecEditor& e, int row, int column) {
  if (column == InputSpecEditor::DTypeColumn) {
    return qobject_cast<QComboBox*>(e.table()->cellWidget(row, column))->currentText();
  }
  return e.table()->item(row, column)->text();
}

}  // namespace

TEST(ViewsInputSpecEditor, TextFillsTheRows) {
  ensure_app();
  InputSpecEditor editor;
  EXPECT_FALSE(editor.isValid());
  EXPECT_TRUE(editor.message().contains("Enter the model's inputs"));
  QSignalSpy edited(&editor, &InputSpecEditor::edited);
  editor.setSpecText("ids:int64[2,16]=0..100; mask:bool[2,16]");
  EXPECT_EQ(edited.count(), 0);  // set from code, not edited
  ASSERT_TRUE(editor.isValid());
  EXPECT_EQ(editor.spec()->tensors.size(), 2u);
  ASSERT_EQ(editor.table()->rowCount(), 2);
  EXPECT_EQ(cell(editor, 0, InputSpecEditor::NameColumn), "ids");
  EXPECT_EQ(cell(editor, 0, InputSpecEditor::DTypeColumn), "int64");
  EXPECT_EQ(cell(editor, 0, InputSpecEditor::ShapeColumn), "2,16");
  EXPECT_EQ(cell(editor, 0, InputSpecEditor::RangeColumn), "0..100");
  EXPECT_EQ(cell(editor, 1, InputSpecEditor::DTypeColumn), "bool");
  EXPECT_EQ(cell(editor, 1, InputSpecEditor::RangeColumn), "");
  EXPECT_EQ(editor.message(), "Valid: 2 inputs, 32 tokens per forward");
}

TEST(ViewsInputSpecEditor, TypingShowsTheParsersMessageAndKeepsTheRows) {
  ensure_app();
  InputSpecEditor editor;
  editor.setSpecText("ids:int64[1,8]");
  QSignalSpy edited(&editor, &InputSpecEditor::edited);
  QSignalSpy validity(&editor, &InputSpecEditor::validityChanged);
  editor.textEdit()->clear();
  QTest::keyClicks(editor.textEdit(), "ids:int64[1,x");
  EXPECT_GT(edited.count(), 0);
  EXPECT_FALSE(editor.isValid());
  ASSERT_GE(validity.count(), 1);
  EXPECT_FALSE(validity.back().front().toBool());
  EXPECT_TRUE(editor.message().contains("missing [shape]")) << editor.message().toStdString();
  EXPECT_EQ(editor.table()->rowCount(), 1);  // the last good rows stay
  EXPECT_EQ(cell(editor, 0, InputSpecEditor::ShapeColumn), "1,8");

  QTest::keyClicks(editor.textEdit(), "]");
  EXPECT_FALSE(editor.isValid());
  EXPECT_TRUE(editor.message().contains("dimension 'x' is not a positive integer")) << editor.message().toStdString();
  QTest::keyClick(editor.textEdit(), Qt::Key_Backspace);
  QTest::keyClick(editor.textEdit(), Qt::Key_Backspace);
  QTest::keyClicks(editor.textEdit(), "32]");
  ASSERT_TRUE(editor.isValid()) << editor.message().toStdString();
  EXPECT_TRUE(validity.back().front().toBool());
  EXPECT_EQ(cell(editor, 0, InputSpecEditor::ShapeColumn), "1,32");
}

TEST(ViewsInputSpecEditor, EditingARowRewritesTheText) {
  ensure_app();
  InputSpecEditor editor;
  editor.setSpecText("ids:int64[1,8]");
  QSignalSpy edited(&editor, &InputSpecEditor::edited);
  editor.table()->item(0, InputSpecEditor::ShapeColumn)->setText("4,64");
  EXPECT_EQ(editor.specText(), "ids:int64[4,64]");
  EXPECT_EQ(editor.spec()->tensors.front().shape, (std::vector<int64_t>{4, 64}));
  EXPECT_EQ(edited.count(), 1);

  qobject_cast<QComboBox*>(editor.table()->cellWidget(0, InputSpecEditor::DTypeColumn))->setCurrentText("int32");
  EXPECT_EQ(editor.specText(), "ids:int32[4,64]");
  editor.table()->item(0, InputSpecEditor::RangeColumn)->setText("0..50");
  EXPECT_EQ(editor.specText(), "ids:int32[4,64]=0..50");

  // A row that does not parse is marked, and says why.
  editor.table()->item(0, InputSpecEditor::ShapeColumn)->setText("4,-1");
  EXPECT_FALSE(editor.isValid());
  EXPECT_TRUE(editor.table()->item(0, InputSpecEditor::ShapeColumn)->toolTip().contains("'-1'"));
  editor.table()->item(0, InputSpecEditor::ShapeColumn)->setText("4,64");
  EXPECT_TRUE(editor.isValid());
  EXPECT_TRUE(editor.table()->item(0, InputSpecEditor::ShapeColumn)->toolTip().isEmpty());
}

TEST(ViewsInputSpecEditor, SpecMustFitTheForwardsArguments) {
  ensure_app();
  InputSpecEditor editor;
  editor.setArguments(gpt2_arguments());
  editor.setSpecText("ids:int64[1,8]");
  EXPECT_TRUE(editor.isValid());
  editor.setSpecText("ids:int64[1,8]; mask:bool[1,8]");
  EXPECT_TRUE(editor.isValid());  // mask has a default but may be given
  editor.setSpecText("ids:int64[1,8]; mask:bool[1,8]; x:fp32[1]");
  EXPECT_FALSE(editor.isValid());
  EXPECT_EQ(editor.message(), "the model's forward(ids, mask=…) takes 1 to 2 inputs; the spec gives 3");
  editor.setSpecText("tokens:int64[1,8]");
  EXPECT_FALSE(editor.isValid());
  EXPECT_EQ(editor.message(), "the model's forward(ids, mask=…) has no argument 'tokens'");
  // Unnamed inputs go by position.
  editor.setSpecText("int64[1,8]");
  EXPECT_TRUE(editor.isValid());
  // Without arguments, any syntactically valid spec passes.
  editor.setSpecText("tokens:int64[1,8]");
  editor.setArguments({});
  EXPECT_TRUE(editor.isValid());
}

TEST(ViewsInputSpecEditor, AddAndRemoveRows) {
  ensure_app();
  InputSpecEditor editor;
  editor.setArguments(gpt2_arguments());
  QPushButton* add = nullptr;
  QPushButton* remove = nullptr;
  for (auto* button : editor.findChildren<QPushButton*>()) {
    if (button->text() == "Add input") add = button;
    if (button->text() == "Remove") remove = button;
  }
  ASSERT_NE(add, nullptr);
  ASSERT_NE(remove, nullptr);
  EXPECT_FALSE(remove->isEnabled());
  add->click();
  EXPECT_EQ(editor.specText(), "ids:int64[1,128]");  // named after the forward's first argument
  EXPECT_TRUE(editor.isValid());
  add->click();
  EXPECT_EQ(editor.table()->rowCount(), 2);
  EXPECT_EQ(cell(editor, 1, InputSpecEditor::NameColumn), "mask");
  editor.table()->selectRow(0);
  EXPECT_TRUE(remove->isEnabled());
  remove->click();
  EXPECT_EQ(editor.specText(), "mask:int64[1,128]");
}

TEST(ViewsInputSpecEditor, DeviceAndDType) {
  ensure_app();
  InputSpecEditor editor;
  EXPECT_EQ(editor.devices(), QStringList{"cpu"});
  EXPECT_EQ(editor.device(), mlopt::Device{});
  EXPECT_FALSE(editor.setDevice(mlopt::Device{mlopt::DeviceKind::Cuda, 0}));  // not offered

  QSignalSpy edited(&editor, &InputSpecEditor::edited);
  editor.setDevices({"cpu", "cuda:0", "cuda:1"});
  EXPECT_EQ(edited.count(), 0);
  EXPECT_TRUE(editor.setDevice(mlopt::Device{mlopt::DeviceKind::Cuda, 1}));
  EXPECT_EQ(editor.device(), (mlopt::Device{mlopt::DeviceKind::Cuda, 1}));
  editor.deviceCombo()->setCurrentIndex(0);  // as the user would
  EXPECT_EQ(edited.count(), 1);
  EXPECT_EQ(editor.device(), mlopt::Device{});

  EXPECT_EQ(editor.dtype(), std::nullopt);  // as saved
  editor.dtypeCombo()->setCurrentText("bf16");
  EXPECT_EQ(editor.dtype(), mlopt::DType::BF16);
  EXPECT_EQ(edited.count(), 2);
  editor.setDType(mlopt::DType::F64);  // not in the menu: added
  EXPECT_EQ(editor.dtype(), mlopt::DType::F64);
  editor.setDType(std::nullopt);
  EXPECT_EQ(editor.dtype(), std::nullopt);
  EXPECT_EQ(editor.loadOptions().device, mlopt::Device{});
  EXPECT_EQ(edited.count(), 2);
}
