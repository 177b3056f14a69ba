// Run › Optimize… driven through its widgets: open the tiny gpt2 sample on
// the CPU, profile, tick Flash attention and Fused MLP, Optimize; the
// outcomes show both attention and both MLP blocks matched and verified;
// time the baseline and the optimized model; Compare shows the two runs;
// save, reopen, export. And what the dialog refuses on a CPU model.
#include <gtest/gtest.h>

#include <QAction>
#include <QCheckBox>
#include <QFileInfo>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStyle>
#include <QStyleOptionButton>
#include <QTest>
#include <QTimer>
#include <QTreeView>

#include <nlohmann/json.hpp>
#include <qcustomplot.h>

#include "mlopt/core/project.h"
#include "mlopt/views/compare_panel.h"
#include "mlopt/views/input_spec_editor.h"
#include "mlopt/views/model_panel.h"
#include "mlopt/views/optimize_dialog.h"
#include "mlopt/views/outcome_model.h"
#include "mlopt/views/profile_runner.h"
#include "mlopt/views/results_panel.h"
#include "mlopt/views/variant_list_model.h"
#include "studio_test_support.h"

using namespace mlopt::views;
using mlopt::test::ensure_studio;
using mlopt::test::fresh_model;
using mlopt::test::qpath;
using mlopt::test::quick_options;

namespace {

constexpr int kLoadTimeoutMs = 60'000;
constexpr int kWorkTimeoutMs = 180'000;
const char* const kVariant = "flash_attention+fused_mlp";

MainWindow::Answer fail_if_asked(const QString& question) {
  ADD_FAILURE() << "unexpected unsaved-changes prompt: " << question.toStdString();
  return MainWindow::Answer::Cancel;
}

QAction* action(const MainWindow& window, const char* name) {
  auto* a = window.findChild<QAction*>(QString::fromLatin1(name));
  EXPECT_NE(a, nullptr) << name;
  return a;
}

bool openAndWait(MainWindow& window, const QString& path) {
  QSignalSpy loaded(&window, &MainWindow::modelLoaded);
  if (!window.openFile(path)) return false;
  return loaded.wait(kLoadTimeoutMs);
}

// Clicks the widget as a user would (it must be shown and enabled).
void click(QWidget* widget) { QTest::mouseClick(widget, Qt::LeftButton, {}, widget->rect().center()); }

// A check box takes clicks on its indicator and text only, not on the rest
// of its width in the layout: click the middle of that area.
void click(QCheckBox* box) {
  QStyleOptionButton option;
  option.initFrom(box);
  option.text = box->text();
  const QRect area = box->style()->subElementRect(QStyle::SE_CheckBoxClickRect, &option, box);
  QTest::mouseClick(box, Qt::LeftButton, {}, area.center());
}

int transformChildren(const OutcomeModel& model, const char* transform, OutcomeModel::RowKind kind) {
  const QModelIndex parent = model.transformIndex(QString::fromLatin1(transform));
  int n = 0;
  for (int row = 0; row < model.rowCount(parent); ++row) {
    n += model.index(row, 0, parent).data(OutcomeModel::KindRole).toInt() == static_cast<int>(kind);
  }
  return n;
}

}  // namespace

TEST(StudioOptimize, OptimizeVerifyTimeCompareSaveReopenExport) {
  ensure_studio();
  const auto model = fresh_model("optimize");
  const auto dir = model.parent_path();
  const QString saved = qpath(dir / "optimized.mlopt");
  {
    MainWindow window(quick_options());
    window.setUnsavedPrompt(fail_if_asked);
    window.show();
    QAction* optimize = action(window, "actionOptimize");
    ASSERT_NE(optimize, nullptr);
    EXPECT_FALSE(optimize->isEnabled());  // nothing open
    // Its own shortcut, shared with no other action (an ambiguous one fires neither).
    EXPECT_EQ(optimize->shortcut(), QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_O));
    for (const QAction* other : window.findChildren<QAction*>()) {
      if (other == optimize) continue;
      EXPECT_NE(other->shortcut(), optimize->shortcut()) << other->objectName().toStdString();
    }

    window.setInputSpec(QStringLiteral("ids:int64[1,16]"));
    ASSERT_TRUE(openAndWait(window, qpath(model))) << window.lastError().toStdString();
    EXPECT_TRUE(optimize->isEnabled());
    // Invalid inputs: nothing to optimize with.
    window.setInputSpec(QStringLiteral("ids:int64[1,"));
    EXPECT_FALSE(optimize->isEnabled());
    window.setInputSpec(QStringLiteral("ids:int64[1,16]"));
    ASSERT_TRUE(optimize->isEnabled());

    // A profile first: the baseline's time per category.
    QSignalSpy profiled(&window, &MainWindow::profileStopped);
    action(window, "actionProfile")->trigger();
    ASSERT_TRUE(profiled.wait(kWorkTimeoutMs));
    ASSERT_NE(window.resultsPanel()->profile(), nullptr) << window.lastError().toStdString();

    // Run › Optimize… opens the dialog on the model, on the CPU.
    optimize->trigger();
    OptimizeDialog* dialog = window.optimizeDialog();
    ASSERT_NE(dialog, nullptr);
    ASSERT_TRUE(dialog->isVisible());
    EXPECT_FALSE(dialog->optimizeButton()->isEnabled());  // nothing ticked
    EXPECT_FALSE(dialog->timeButton()->isEnabled());      // nothing optimized
    EXPECT_EQ(dialog->flashAttentionNote()->text(), "CPU: reference kernels, for checking only");
    EXPECT_TRUE(dialog->flashAttentionNote()->isVisible());
    EXPECT_EQ(dialog->fusedMlpNote()->text(), "CPU: reference kernels, for checking only");
    EXPECT_FALSE(dialog->cudaGraphsBox()->isEnabled());

    click(dialog->flashAttentionBox());
    click(dialog->fusedMlpBox());
    ASSERT_TRUE(dialog->flashAttentionBox()->isChecked());
    ASSERT_TRUE(dialog->fusedMlpBox()->isChecked());
    EXPECT_FALSE(dialog->alignLinearBox()->isChecked());
    ASSERT_TRUE(dialog->optimizeButton()->isEnabled());

    // Optimize on the worker thread: the window is busy meanwhile.
    QSignalSpy optimized(dialog, &OptimizeDialog::optimized);
    QSignalSpy stopped(dialog, &OptimizeDialog::stopped);
    click(dialog->optimizeButton());
    EXPECT_TRUE(dialog->isRunning());
    EXPECT_TRUE(window.isBusy());
    EXPECT_FALSE(dialog->optimizeButton()->isEnabled());
    EXPECT_FALSE(dialog->flashAttentionBox()->isEnabled());
    EXPECT_FALSE(action(window, "actionProfile")->isEnabled());
    EXPECT_FALSE(optimize->isEnabled());
    ASSERT_TRUE(stopped.wait(kWorkTimeoutMs));
    ASSERT_EQ(optimized.count(), 1) << window.lastError().toStdString();
    EXPECT_FALSE(window.isBusy());
    EXPECT_TRUE(action(window, "actionProfile")->isEnabled());

    // The outcomes: two attention and two MLP blocks matched, nothing left
    // alone, both verified within tolerance and kept.
    const OutcomeModel* outcomes = dialog->outcomeModel();
    EXPECT_EQ(dialog->outcomeView()->model(), outcomes);
    ASSERT_EQ(outcomes->rowCount(), 2);
    for (const char* transform : {"flash_attention", "fused_mlp"}) {
      const QModelIndex row = outcomes->transformIndex(QString::fromLatin1(transform));
      ASSERT_TRUE(row.isValid()) << transform;
      EXPECT_EQ(transformChildren(*outcomes, transform, OutcomeModel::RowKind::Matched), 2) << transform;
      EXPECT_EQ(transformChildren(*outcomes, transform, OutcomeModel::RowKind::LeftAlone), 0) << transform;
      EXPECT_GE(transformChildren(*outcomes, transform, OutcomeModel::RowKind::Output), 1) << transform;
      EXPECT_EQ(row.data(OutcomeModel::PassedRole), QVariant(true)) << transform;
      EXPECT_LE(row.data(OutcomeModel::ErrorRole).toDouble(), row.data(OutcomeModel::ToleranceRole).toDouble());
      EXPECT_EQ(row.siblingAtColumn(OutcomeModel::StatusColumn).data().toString(), "applied");
      EXPECT_TRUE(row.siblingAtColumn(OutcomeModel::DetailColumn).data().toString().startsWith("passed"))
          << row.siblingAtColumn(OutcomeModel::DetailColumn).data().toString().toStdString();
    }
    const QModelIndex first_attention = outcomes->index(0, 0, outcomes->transformIndex("flash_attention"));
    EXPECT_EQ(first_attention.siblingAtColumn(OutcomeModel::ModuleColumn).data().toString(), "transformer.h.0.attn");
    EXPECT_EQ(dialog->variant(), kVariant);
    ASSERT_NE(window.optimizedModel(), nullptr);
    // Recorded in the project and autosaved next to the model.
    EXPECT_EQ(window.project().optimizations.size(), 2u);
    EXPECT_EQ(window.project().transforms, (std::vector<std::string>{"flash_attention", "fused_mlp"}));
    EXPECT_FALSE(window.hasUnsavedChanges());
    const QString autosaved = window.projectPath();
    EXPECT_EQ(mlopt::Project::load(autosaved.toStdString()).optimizations, window.project().optimizations);

    // Time the baseline and the optimized model: two runs in the project.
    ASSERT_TRUE(dialog->timeButton()->isEnabled());
    QSignalSpy timed(dialog, &OptimizeDialog::timed);
    click(dialog->timeButton());
    EXPECT_TRUE(window.isBusy());
    ASSERT_TRUE(stopped.wait(kWorkTimeoutMs));
    ASSERT_EQ(timed.count(), 1) << window.lastError().toStdString();
    const auto& runs = window.project().runs;
    ASSERT_EQ(runs.size(), 2u);
    EXPECT_EQ(runs[0].variant, "");
    EXPECT_EQ(runs[1].variant, kVariant);
    for (const auto& run : runs) {
      EXPECT_EQ(run.samples_ms.size(), 2u);  // the toolbar's iterations
      EXPECT_EQ(run.spec.to_string(), "ids:int64[1,16]");
      EXPECT_EQ(QFileInfo(QString::fromStdString(run.model_path)).fileName(), "tiny-gpt2.pt");
    }
    EXPECT_TRUE(dialog->summary().contains("Compare")) << dialog->summary().toStdString();
    EXPECT_FALSE(window.hasUnsavedChanges());
    EXPECT_EQ(mlopt::Project::load(autosaved.toStdString()).runs.size(), 2u);

    // Compare: the two runs ticked, the optimized one named by its variant.
    ComparePanel* compare = window.comparePanel();
    const VariantListModel* variants = compare->variantModel();
    ASSERT_EQ(variants->rowCount(), 3);  // two runs, one profile
    EXPECT_EQ(variants->checkedRows(), (std::vector<int>{0, 1}));
    const QString base_label = variants->index(0).data().toString();
    const QString opt_label = variants->index(1).data().toString();
    EXPECT_FALSE(base_label.contains("flash_attention")) << base_label.toStdString();
    EXPECT_TRUE(opt_label.contains(QStringLiteral("[%1]").arg(QLatin1String(kVariant)))) << opt_label.toStdString();
    EXPECT_FALSE(compare->showsEmptyState());
    EXPECT_EQ(compare->latencyChart()->plottableCount(), 2);

    dialog->close();
    ASSERT_TRUE(window.saveProjectAs(saved)) << window.lastError().toStdString();
    EXPECT_TRUE(window.close());  // nothing unsaved: no prompt
  }

  // Reopen: the outcomes and both runs are in the project.
  MainWindow again(quick_options());
  again.setUnsavedPrompt(fail_if_asked);
  again.show();
  ASSERT_TRUE(openAndWait(again, saved)) << again.lastError().toStdString();
  EXPECT_EQ(again.optimizedModel(), nullptr);  // a model is not kept in the project
  const auto& project = again.project();
  ASSERT_EQ(project.optimizations.size(), 2u);
  EXPECT_EQ(project.optimizations[0].transform, "flash_attention");
  EXPECT_EQ(project.optimizations[0].matched.size(), 2u);
  EXPECT_TRUE(project.optimizations[1].applied);
  ASSERT_TRUE(project.optimizations[1].verification.has_value());
  EXPECT_TRUE(project.optimizations[1].verification->passed);
  ASSERT_EQ(project.runs.size(), 2u);
  EXPECT_EQ(project.runs[1].variant, kVariant);
  EXPECT_EQ(project.profiles.size(), 1u);
  EXPECT_TRUE(again.comparePanel()->variantModel()->index(1).data().toString().contains(kVariant));

  // Export, as the main flow does: both runs in the JSON report.
  for (const char* ext : {"html", "json", "md"}) {
    const auto file = dir / (std::string("optimized-report.") + ext);
    ASSERT_TRUE(again.exportReport(qpath(file))) << ext << ": " << again.lastError().toStdString();
    EXPECT_TRUE(QFileInfo::exists(qpath(file)));
  }
  const auto j = nlohmann::json::parse(mlopt::test::read_text(dir / "optimized-report.json"));
  EXPECT_EQ(j["project"]["file"], saved.toStdString());
  EXPECT_EQ(j["runs"].size(), 2u) << j.dump(1).substr(0, 2000);
}

TEST(StudioOptimize, ACpuModelCannotTakeCudaGraphsOrParallelism) {
  ensure_studio();
  const auto model = fresh_model("optimize-cpu");
  MainWindow window(quick_options());
  window.setUnsavedPrompt(fail_if_asked);
  window.show();
  window.setInputSpec(QStringLiteral("ids:int64[1,8]"));
  ASSERT_TRUE(openAndWait(window, qpath(model))) << window.lastError().toStdString();
  ASSERT_TRUE(window.openOptimize());
  OptimizeDialog* dialog = window.optimizeDialog();
  ASSERT_TRUE(dialog->isVisible());

  // CUDA graphs: disabled, and the reason beside it and in its tooltip.
  QCheckBox* graphs = dialog->cudaGraphsBox();
  EXPECT_FALSE(graphs->isEnabled());
  EXPECT_FALSE(graphs->isChecked());
  EXPECT_TRUE(dialog->cudaGraphsNote()->isVisible());
  EXPECT_EQ(dialog->cudaGraphsNote()->text(),
            "CUDA graphs need the model on a CUDA device (this model runs on cpu)");
  EXPECT_EQ(graphs->toolTip(), dialog->cudaGraphsNote()->text());
  click(graphs);  // a click on a disabled box does nothing
  EXPECT_FALSE(graphs->isChecked());
  EXPECT_FALSE(dialog->options().cuda_graphs);
  EXPECT_TRUE(OptimizeDialog::cudaGraphsUnavailableReason(mlopt::Device{mlopt::DeviceKind::Cuda, 0}).isEmpty());

  // Flash attention and fused MLP run the references on the CPU: allowed, and said.
  EXPECT_TRUE(dialog->flashAttentionBox()->isEnabled());
  EXPECT_TRUE(dialog->fusedMlpBox()->isEnabled());
  EXPECT_TRUE(dialog->alignLinearBox()->isEnabled());
  EXPECT_EQ(dialog->flashAttentionNote()->text(), OptimizeDialog::cpuReferenceNote());

  // Tensor/sequence parallelism and ring attention: shown, disabled, with the reason.
  const QString later = OptimizeDialog::parallelUnavailableReason();
  EXPECT_TRUE(later.contains("--tensor-parallel")) << later.toStdString();
  for (QWidget* w : std::initializer_list<QWidget*>{dialog->tensorParallelBox(), dialog->sequenceParallelBox(),
                                                     dialog->ringAttentionBox()}) {
    EXPECT_FALSE(w->isEnabled()) << w->objectName().toStdString();
    EXPECT_EQ(w->toolTip(), later) << w->objectName().toStdString();
  }
  EXPECT_EQ(dialog->parallelNote()->text(), later);
  EXPECT_TRUE(dialog->parallelNote()->isVisible());
  EXPECT_EQ(dialog->tensorParallelBox()->value(), 1);

  // Align Linear alone: GPT-2's Conv1D layers become linear (the bias in the
  // GEMM's epilogue), so it is kept and there is something to time.
  click(dialog->alignLinearBox());
  ASSERT_TRUE(dialog->optimizeButton()->isEnabled());
  QSignalSpy stopped(dialog, &OptimizeDialog::stopped);
  ASSERT_TRUE(dialog->startOptimize());
  ASSERT_TRUE(stopped.wait(kWorkTimeoutMs));
  ASSERT_EQ(dialog->outcomeModel()->rowCount(), 1);
  EXPECT_EQ(dialog->outcomes().at(0).transform, "align_linear");
  EXPECT_TRUE(dialog->outcomes().at(0).applied) << dialog->outcomes().at(0).note;
  EXPECT_EQ(dialog->variant(), "align_linear");
  EXPECT_TRUE(dialog->timeButton()->isEnabled());
  EXPECT_EQ(window.project().transforms, (std::vector<std::string>{"align_linear"}));

  // The Llama sample has only Linear layers, every width a multiple of 8:
  // nothing is kept and there is nothing to time.
  OptimizeSubject llama = dialog->subject();
  llama.model = nullptr;
  llama.model_file = mlopt::test::tiny_llama();
  dialog->setSubject(llama);
  ASSERT_TRUE(dialog->startOptimize());
  ASSERT_TRUE(stopped.wait(kWorkTimeoutMs));
  ASSERT_EQ(dialog->outcomeModel()->rowCount(), 1);
  EXPECT_FALSE(dialog->outcomes().at(0).applied);
  EXPECT_EQ(dialog->variant(), "");
  EXPECT_FALSE(dialog->timeButton()->isEnabled());
  EXPECT_FALSE(dialog->startTiming());
  EXPECT_TRUE(dialog->summary().contains("No transform was kept")) << dialog->summary().toStdString();

  // An error on the worker (here: a model file that is not one) becomes the
  // window's error dialog; the dialog and the window carry on.
  const auto bad = model.parent_path() / "bad.pt";
  mlopt::test::write_text(bad, "this is not a TorchScript file");
  OptimizeSubject broken = dialog->subject();
  broken.model = nullptr;
  broken.model_file = bad;
  dialog->setSubject(broken);
  EXPECT_TRUE(dialog->outcomes().empty());  // another subject: the earlier outcomes are gone
  QSignalSpy errors(&window, &MainWindow::errorShown);
  ASSERT_TRUE(dialog->startOptimize());
  ASSERT_TRUE(stopped.wait(kWorkTimeoutMs));
  ASSERT_EQ(errors.count(), 1);
  EXPECT_EQ(errors.back().at(0).toString(), "Cannot load the model");
  EXPECT_TRUE(errors.back().at(1).toString().contains("is not a TorchScript file"))
      << errors.back().at(1).toString().toStdString();
  EXPECT_FALSE(dialog->isRunning());
  EXPECT_FALSE(window.isBusy());
  EXPECT_TRUE(dialog->optimizeButton()->isEnabled());
  EXPECT_EQ(window.project().transforms, (std::vector<std::string>{"align_linear"}));  // unchanged
  for (auto* box : window.findChildren<QMessageBox*>(QStringLiteral("errorDialog"))) box->close();
  dialog->close();
}
