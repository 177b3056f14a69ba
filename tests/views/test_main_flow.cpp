// The workbench driven through its widgets, as a user would: open the tiny
// gpt2 sample, set the inputs, Run › Profile on the CPU, see the ranking,
// the ops, the timeline and the memory chart; the profile autosaved; save
// the project, reopen it. Then what can go wrong: a bad model, a bad
// project, invalid inputs, cancelling, unsaved changes; and drag and drop.
// File › Export report in each format, each file read back.
#include <gtest/gtest.h>

#include <QAction>
#include <QApplication>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QLineEdit>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTableView>
#include <QTest>
#include <QTimer>
#include <QTreeView>
#include <QUrl>

#include <nlohmann/json.hpp>

#include "mlopt/core/project.h"
#include "mlopt/views/compare_panel.h"
#include "mlopt/views/graph_op_model.h"
#include "mlopt/views/input_spec_editor.h"
#include "mlopt/views/kernel_timeline.h"
#include "mlopt/views/memory_chart.h"
#include "mlopt/views/model_panel.h"
#include "mlopt/views/module_tree_model.h"
#include "mlopt/views/op_table_model.h"
#include "mlopt/views/profile_runner.h"
#include "mlopt/views/ranking_model.h"
#include "mlopt/views/recommendations_model.h"
#include "mlopt/views/variant_list_model.h"
#include "mlopt/views/results_panel.h"
#include "parse_support.h"  // tests/report: reading reports back
#include "studio_test_support.h"

using namespace mlopt::views;
using mlopt::test::ensure_studio;
using mlopt::test::fresh_model;
using mlopt::test::qpath;
using mlopt::test::quick_options;
using mlopt::test::studio_scratch;

namespace {

// Loading and profiling the tiny model take a second or two; these limits
// only stop a hang.
constexpr int kLoadTimeoutMs = 60'000;
constexpr int kProfileTimeoutMs = 180'000;

MainWindow::Answer fail_if_asked(const QString& question) {
  ADD_FAILURE() << "unexpected unsaved-changes prompt: " << question.toStdString();
  return MainWindow::Answer::Cancel;
}

QAction* action(const MainWindow& window, const char* name) {
  auto* a = window.findChild<QAction*>(QString::fromLatin1(name));
  EXPECT_NE(a, nullptr) << name;
  return a;
}

// Types into the spec box as a user would (an edit: the project is modified).
void typeSpec(MainWindow& window, const QString& spec) {
  QLineEdit* edit = window.modelPanel()->inputEditor()->textEdit();
  edit->selectAll();
  QTest::keyClick(edit, Qt::Key_Delete);
  QTest::keyClicks(edit, spec);
}

bool openAndWait(MainWindow& window, const QString& path) {
  QSignalSpy loaded(&window, &MainWindow::modelLoaded);
  if (!window.openFile(path)) return false;
  return loaded.wait(kLoadTimeoutMs);
}

bool profileAndWait(MainWindow& window) {
  QSignalSpy stopped(&window, &MainWindow::profileStopped);
  action(window, "actionProfile")->trigger();
  if (!window.profileRunner()->isRunning()) return false;
  return stopped.wait(kProfileTimeoutMs) && window.resultsPanel()->profile() != nullptr;
}

// Closes every error dialog the window opened (they are window-modal, never exec()'d).
int closeErrorDialogs(MainWindow& window) {
  int closed = 0;
  for (auto* box : window.findChildren<QMessageBox*>(QStringLiteral("errorDialog"))) {
    if (!box->isVisible()) continue;
    box->close();
    ++closed;
  }
  QCoreApplication::processEvents();
  return closed;
}

}  // namespace

TEST(StudioFlow, OpenProfileSaveReopen) {
  ensure_studio();
  const auto model = fresh_model("flow");
  const QString autosave = qpath(model) + ".mlopt";
  const QString saved = qpath(model.parent_path() / "saved.mlopt");
  {
    MainWindow window(quick_options());
    window.setUnsavedPrompt(fail_if_asked);
    window.show();
    EXPECT_FALSE(action(window, "actionProfile")->isEnabled());  // nothing open

    window.setInputSpec(QStringLiteral("ids:int64[1,16]"));
    ASSERT_TRUE(openAndWait(window, qpath(model))) << window.lastError().toStdString();
    EXPECT_EQ(window.modelPath(), qpath(model));
    EXPECT_FALSE(window.hasUnsavedChanges());

    // The model view: the module tree, the graph's ops with their shapes
    // (analyzed with the spec), the inputs fitting the forward.
    ModelPanel* panel = window.modelPanel();
    ASSERT_EQ(panel->moduleModel()->rowCount(), 1);
    EXPECT_GT(panel->moduleModel()->rowCount(panel->moduleModel()->index(0, 0)), 0);
    EXPECT_GT(panel->opModel()->rowCount(), 5);
    EXPECT_TRUE(panel->opModel()->hasShapes());
    EXPECT_TRUE(panel->inputEditor()->isValid()) << panel->inputEditor()->message().toStdString();
    EXPECT_TRUE(panel->summary().contains("tiny-gpt2.pt"));

    // Profile through the Run menu's action; the UI thread keeps running.
    QAction* profile = action(window, "actionProfile");
    ASSERT_TRUE(profile->isEnabled());
    QSignalSpy finished(&window, &MainWindow::profileFinished);
    QSignalSpy progress(window.profileRunner(), &ProfileRunner::progress);
    int ticks = 0;
    QTimer timer;
    QObject::connect(&timer, &QTimer::timeout, [&] { ++ticks; });
    timer.start(5);
    profile->trigger();
    EXPECT_TRUE(window.profileRunner()->isRunning());
    EXPECT_FALSE(profile->isEnabled());
    EXPECT_TRUE(action(window, "actionCancel")->isEnabled());
    EXPECT_FALSE(action(window, "actionOpenModel")->isEnabled());
    EXPECT_TRUE(window.progressBar()->isVisible());
    ASSERT_TRUE(finished.wait(kProfileTimeoutMs)) << window.lastError().toStdString();
    timer.stop();
    EXPECT_GT(ticks, 0);  // timers fired while the profile ran: the UI never froze
    ASSERT_GE(progress.count(), 2);
    const int total = mlopt::profiler::progress_total({.warmup = 1, .iterations = 2});
    EXPECT_EQ(progress.back().at(0).toInt(), total);
    EXPECT_EQ(progress.back().at(1).toInt(), total);
    EXPECT_FALSE(window.profileRunner()->isRunning());
    EXPECT_TRUE(profile->isEnabled());
    EXPECT_FALSE(action(window, "actionCancel")->isEnabled());

    // The results: ranking (categories and modules), recommendations model,
    // ops, a timeline of CPU ops and the memory over the iteration.
    ResultsPanel* results = window.resultsPanel();
    ASSERT_NE(results->profile(), nullptr);
    EXPECT_EQ(results->profile()->iterations, 2);
    const RankingModel* ranking = results->rankingModel();
    ASSERT_EQ(ranking->rowCount(), RankingModel::GroupCount);
    EXPECT_GT(ranking->rowCount(ranking->index(RankingModel::CategoriesGroup, 0)), 0);
    EXPECT_GT(ranking->rowCount(ranking->index(RankingModel::ModulesGroup, 0)), 0);
    EXPECT_TRUE(ranking->categoryIndex("attention").isValid());
    const QAbstractItemModel* shown = results->rankingView()->model();
    ASSERT_EQ(shown->rowCount(), 2);
    EXPECT_GT(shown->rowCount(shown->index(0, 0)), 0);
    EXPECT_TRUE(results->rankingView()->isExpanded(shown->index(0, 0)));
    EXPECT_EQ(results->opModel()->rowCount(), static_cast<int>(results->profile()->ops.size()));
    EXPECT_GT(results->opModel()->rowCount(), 0);
    EXPECT_FALSE(results->timeline()->timeline().gpu);
    EXPECT_FALSE(results->timeline()->timeline().bars.empty());
    EXPECT_GT(results->memoryChart()->sampleCount(), 1);
    EXPECT_TRUE(results->summary().contains("per iteration"));

    // Filtering the ranking by text.
    QTest::keyClicks(results->rankingFilterEdit(), "attention");
    ASSERT_EQ(shown->rowCount(), 1);
    EXPECT_EQ(shown->index(0, 0).data(RankingModel::KeyRole).toString(), "Categories");
    results->rankingFilterEdit()->clear();
    EXPECT_EQ(shown->rowCount(), 2);

    // Selecting an op in the table outlines it in the timeline; a timeline
    // bar of another op selects that op in the table.
    results->tabs()->setCurrentIndex(ResultsPanel::OpsTab);
    results->timeline()->resize(900, 300);
    results->timeline()->replot();
    results->selectOp(0);
    EXPECT_EQ(results->selectedOp(), 0);
    EXPECT_EQ(results->timeline()->selectedOp(), 0);
    const auto& bars = results->timeline()->timeline().bars;
    int other = -1;
    for (std::size_t i = 0; i < bars.size() && other < 0; ++i) {
      if (bars[i].op > 0 && results->timeline()->barRect(static_cast<int>(i)).width() >= 1) {
        other = static_cast<int>(i);
      }
    }
    ASSERT_GE(other, 0);
    emit results->timeline()->opClicked(bars[static_cast<std::size_t>(other)].op);
    EXPECT_EQ(results->selectedOp(), bars[static_cast<std::size_t>(other)].op);

    // Autosaved next to the model, and the status bar says so.
    EXPECT_EQ(window.projectPath(), autosave);
    EXPECT_TRUE(QFileInfo::exists(autosave));
    EXPECT_TRUE(window.statusText().contains("autosave")) << window.statusText().toStdString();
    EXPECT_FALSE(window.hasUnsavedChanges());
    const auto on_disk = mlopt::Project::load(autosave.toStdString());
    EXPECT_EQ(on_disk.profiles.size(), 1u);
    EXPECT_EQ(on_disk.input_spec.to_string(), "ids:int64[1,16]");
    EXPECT_TRUE(window.windowTitle().contains("tiny-gpt2.pt.mlopt"));

    // An edit makes the project modified; Save as writes it elsewhere.
    typeSpec(window, QStringLiteral("ids:int64[1,8]"));
    EXPECT_TRUE(window.hasUnsavedChanges());
    ASSERT_TRUE(window.saveProjectAs(saved)) << window.lastError().toStdString();
    EXPECT_FALSE(window.hasUnsavedChanges());
    EXPECT_EQ(window.projectPath(), saved);
    EXPECT_TRUE(window.recentFiles().contains(saved));
    EXPECT_TRUE(window.close());  // nothing unsaved: no prompt
  }

  // Reopen the project: the profile shows at once, the model loads after.
  MainWindow again(quick_options());
  again.setUnsavedPrompt(fail_if_asked);
  again.show();
  QSignalSpy loaded(&again, &MainWindow::modelLoaded);
  ASSERT_TRUE(again.openFile(saved)) << again.lastError().toStdString();
  ASSERT_NE(again.resultsPanel()->profile(), nullptr);
  EXPECT_EQ(again.resultsPanel()->profile()->spec.to_string(), "ids:int64[1,16]");
  EXPECT_GT(again.resultsPanel()->rankingModel()->rowCount(), 0);
  EXPECT_GT(again.resultsPanel()->opModel()->rowCount(), 0);
  EXPECT_FALSE(again.resultsPanel()->timeline()->timeline().bars.empty());  // saved with its trace
  EXPECT_EQ(again.modelPanel()->inputEditor()->specText(), "ids:int64[1,8]");
  EXPECT_EQ(again.projectPath(), saved);
  ASSERT_TRUE(loaded.wait(kLoadTimeoutMs)) << again.lastError().toStdString();
  EXPECT_EQ(again.modelPath(), qpath(model));
  EXPECT_FALSE(again.hasUnsavedChanges());

  // A second profile goes into the same project file.
  ASSERT_TRUE(profileAndWait(again)) << again.lastError().toStdString();
  EXPECT_EQ(mlopt::Project::load(saved.toStdString()).profiles.size(), 2u);
  EXPECT_EQ(again.resultsPanel()->profile()->spec.to_string(), "ids:int64[1,8]");

  // Compare: both profiles, ticked at first; one model, dtype and device, so
  // one throughput line over the sequence lengths 16 and 8.
  ComparePanel* compare = again.comparePanel();
  ASSERT_EQ(compare->variantModel()->rowCount(), 2);
  EXPECT_EQ(compare->variantModel()->checkedRows(), (std::vector<int>{0, 1}));
  EXPECT_FALSE(compare->showsEmptyState());
  EXPECT_EQ(compare->latencyChart()->plottableCount(), 2);
  EXPECT_EQ(compare->memoryChart()->plottableCount(), 2);
  EXPECT_GT(compare->categoryChart()->plottableCount(), 0);
  EXPECT_EQ(compare->sweepAxis().dim, SweepDim::Sequence);
  ASSERT_EQ(compare->throughputChart()->graphCount(), 1);
  EXPECT_EQ(compare->throughputChart()->graph(0)->data()->size(), 2);
}

TEST(StudioFlow, AutosaveContinuesAProjectLeftNextToTheModel) {
  ensure_studio();
  const auto model = fresh_model("continue");
  for (int session = 1; session <= 2; ++session) {
    MainWindow window(quick_options());
    window.setUnsavedPrompt(fail_if_asked);
    window.setInputSpec(QStringLiteral("ids:int64[1,8]"));
    ASSERT_TRUE(openAndWait(window, qpath(model)));
    ASSERT_TRUE(profileAndWait(window)) << window.lastError().toStdString();
    // The second session appends to the first one's file instead of replacing it.
    EXPECT_EQ(mlopt::Project::load(model.string() + ".mlopt").profiles.size(), static_cast<std::size_t>(session));
  }
}

TEST(StudioFlow, CancelStopsTheProfileAndTheWindowCarriesOn) {
  ensure_studio();
  const auto model = fresh_model("cancel");
  MainWindow window(quick_options());
  window.setUnsavedPrompt(fail_if_asked);
  window.setInputSpec(QStringLiteral("ids:int64[1,8]"));
  ASSERT_TRUE(openAndWait(window, qpath(model)));

  // Far more forwards than can finish before the cancel arrives.
  window.iterationsBox()->setValue(1000);
  QSignalSpy progress(window.profileRunner(), &ProfileRunner::progress);
  QSignalSpy cancelled(window.profileRunner(), &ProfileRunner::cancelled);
  QSignalSpy finished(&window, &MainWindow::profileFinished);
  action(window, "actionProfile")->trigger();
  ASSERT_TRUE(window.profileRunner()->isRunning());
  EXPECT_FALSE(window.iterationsBox()->isEnabled());
  // Wait for a forward to be done, then cancel as the user would.
  ASSERT_TRUE(QTest::qWaitFor([&] { return !progress.isEmpty() && progress.back().at(0).toInt() > 0; }, 60'000));
  action(window, "actionCancel")->trigger();
  ASSERT_TRUE(cancelled.wait(60'000));
  EXPECT_EQ(finished.count(), 0);
  EXPECT_EQ(window.resultsPanel()->profile(), nullptr);
  EXPECT_TRUE(window.statusText().contains("cancelled")) << window.statusText().toStdString();
  EXPECT_FALSE(QFileInfo::exists(qpath(model) + ".mlopt"));  // nothing to save
  EXPECT_FALSE(window.progressBar()->isVisible());
  EXPECT_TRUE(window.iterationsBox()->isEnabled());
  EXPECT_TRUE(action(window, "actionProfile")->isEnabled());

  // And it profiles again afterwards.
  window.iterationsBox()->setValue(1);
  ASSERT_TRUE(profileAndWait(window)) << window.lastError().toStdString();
  EXPECT_EQ(window.resultsPanel()->profile()->iterations, 1);
}

TEST(StudioFlow, ErrorsShowAsDialogsAndTheWindowCarriesOn) {
  ensure_studio();
  const auto good = fresh_model("errors");
  const auto bad = good.parent_path() / "bad.pt";
  mlopt::test::write_text(bad, "this is not a TorchScript file");
  const auto bad_project = good.parent_path() / "bad.mlopt";
  mlopt::test::write_text(bad_project, "{ not json");

  MainWindow window(quick_options());
  window.setUnsavedPrompt(fail_if_asked);
  window.show();
  QSignalSpy errors(&window, &MainWindow::errorShown);

  // A bad model: the load fails in the background, a dialog says why.
  QSignalSpy failed(&window, &MainWindow::modelLoadFailed);
  ASSERT_TRUE(window.openFile(qpath(bad)));
  ASSERT_TRUE(failed.wait(kLoadTimeoutMs));
  ASSERT_EQ(errors.count(), 1);
  EXPECT_EQ(errors.back().at(0).toString(), "Cannot load the model");
  EXPECT_TRUE(errors.back().at(1).toString().contains("is not a TorchScript file"))
      << errors.back().at(1).toString().toStdString();
  EXPECT_EQ(closeErrorDialogs(window), 1);
  EXPECT_FALSE(window.isBusy());
  EXPECT_FALSE(action(window, "actionProfile")->isEnabled());

  // A bad project: refused at once, with the reason.
  EXPECT_FALSE(window.openFile(qpath(bad_project)));
  ASSERT_EQ(errors.count(), 2);
  EXPECT_EQ(errors.back().at(0).toString(), "Cannot open the project");
  EXPECT_TRUE(errors.back().at(1).toString().contains("not valid JSON"));
  EXPECT_EQ(closeErrorDialogs(window), 1);

  // The good model still opens; inputs that do not fit the forward keep
  // Profile disabled, and asking anyway explains.
  window.setInputSpec(QStringLiteral("ids:int64[1,8]; x:fp32[4]; y:fp32[4]"));
  ASSERT_TRUE(openAndWait(window, qpath(good)));
  EXPECT_FALSE(window.modelPanel()->inputEditor()->isValid());
  EXPECT_FALSE(action(window, "actionProfile")->isEnabled());
  EXPECT_FALSE(window.startProfile());
  ASSERT_EQ(errors.count(), 3);
  EXPECT_EQ(errors.back().at(0).toString(), "The inputs are not valid");
  EXPECT_TRUE(errors.back().at(1).toString().contains("takes 1 input"));
  closeErrorDialogs(window);

  // A spec that parses and fits by count but not by dtype fails in the
  // forward: the profiler's InputSpecError reaches a dialog.
  typeSpec(window, QStringLiteral("ids:fp32[1,8]"));
  ASSERT_TRUE(action(window, "actionProfile")->isEnabled());
  QSignalSpy stopped(&window, &MainWindow::profileStopped);
  action(window, "actionProfile")->trigger();
  ASSERT_TRUE(stopped.wait(kProfileTimeoutMs));
  ASSERT_EQ(errors.count(), 4);
  EXPECT_EQ(errors.back().at(0).toString(), "The inputs do not fit the model");
  closeErrorDialogs(window);

  // And a good spec profiles.
  typeSpec(window, QStringLiteral("ids:int64[1,8]"));
  ASSERT_TRUE(profileAndWait(window)) << window.lastError().toStdString();
  EXPECT_EQ(errors.count(), 4);
}

TEST(StudioFlow, UnsavedChangesAskBeforeTheyAreLost) {
  ensure_studio();
  const auto first = fresh_model("unsaved-a");
  const auto second = fresh_model("unsaved-b");
  MainWindow window(quick_options());
  window.show();
  window.setInputSpec(QStringLiteral("ids:int64[1,8]"));
  QStringList asked;
  MainWindow::Answer answer = MainWindow::Answer::Cancel;
  window.setUnsavedPrompt([&](const QString& question) {
    asked << question;
    return answer;
  });
  ASSERT_TRUE(openAndWait(window, qpath(first)));
  EXPECT_FALSE(window.hasUnsavedChanges());
  typeSpec(window, QStringLiteral("ids:int64[1,4]"));
  ASSERT_TRUE(window.hasUnsavedChanges());
  EXPECT_TRUE(window.windowTitle().contains("[*]"));

  // Cancel: nothing happens.
  EXPECT_FALSE(window.openFile(qpath(second)));
  EXPECT_EQ(asked.size(), 1);
  EXPECT_EQ(window.modelPath(), qpath(first));
  EXPECT_FALSE(window.close());
  EXPECT_EQ(asked.size(), 2);

  // Save: written to the project (asked for a name: it has none yet, so
  // give it one first through Save as), then the other model opens.
  const QString project = qpath(first.parent_path() / "kept.mlopt");
  ASSERT_TRUE(window.saveProjectAs(project));
  typeSpec(window, QStringLiteral("ids:int64[1,2]"));
  answer = MainWindow::Answer::Save;
  ASSERT_TRUE(openAndWait(window, qpath(second)));
  EXPECT_EQ(asked.size(), 3);
  EXPECT_EQ(mlopt::Project::load(project.toStdString()).input_spec.to_string(), "ids:int64[1,2]");

  // Discard: opens without saving.
  typeSpec(window, QStringLiteral("ids:int64[1,3]"));
  answer = MainWindow::Answer::Discard;
  ASSERT_TRUE(openAndWait(window, qpath(first)));
  EXPECT_EQ(asked.size(), 4);
  EXPECT_FALSE(window.hasUnsavedChanges());
  EXPECT_TRUE(window.close());
}

TEST(StudioFlow, DroppingAModelOpensIt) {
  ensure_studio();
  const auto model = fresh_model("drop");
  MainWindow window(quick_options());
  window.setUnsavedPrompt(fail_if_asked);
  window.show();

  QMimeData text;
  text.setUrls({QUrl::fromLocalFile(qpath(model.parent_path() / "notes.txt"))});
  QDragEnterEvent refused(QPoint(20, 20), Qt::CopyAction, &text, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(&window, &refused);
  EXPECT_FALSE(refused.isAccepted());

  QMimeData mime;
  mime.setUrls({QUrl::fromLocalFile(qpath(model))});
  QDragEnterEvent enter(QPoint(20, 20), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(&window, &enter);
  EXPECT_TRUE(enter.isAccepted());
  QSignalSpy loaded(&window, &MainWindow::modelLoaded);
  QDropEvent drop(QPointF(20, 20), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
  QCoreApplication::sendEvent(&window, &drop);
  ASSERT_TRUE(loaded.wait(kLoadTimeoutMs)) << window.lastError().toStdString();
  EXPECT_EQ(window.modelPath(), qpath(model));
  EXPECT_EQ(window.recentFiles().value(0), qpath(model));
}

TEST(StudioFlow, ExportReportInEveryFormat) {
  ensure_studio();
  const auto model = fresh_model("export");
  const auto dir = model.parent_path();
  MainWindow window(quick_options());
  window.setUnsavedPrompt(fail_if_asked);
  window.show();
  QAction* exportAction = action(window, "actionExportReport");
  ASSERT_NE(exportAction, nullptr);
  EXPECT_EQ(exportAction->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_E));
  EXPECT_FALSE(exportAction->isEnabled());  // nothing open
  window.setInputSpec(QStringLiteral("ids:int64[1,8]"));
  ASSERT_TRUE(openAndWait(window, qpath(model)));
  EXPECT_TRUE(exportAction->isEnabled());
  ASSERT_TRUE(profileAndWait(window)) << window.lastError().toStdString();

  for (const char* ext : {"html", "pdf", "json", "csv", "md"}) {
    const auto file = dir / (std::string("report.") + ext);
    ASSERT_TRUE(window.exportReport(qpath(file))) << ext << ": " << window.lastError().toStdString();
    EXPECT_TRUE(window.statusText().contains("Report written")) << window.statusText().toStdString();
  }
  const auto j = nlohmann::json::parse(mlopt::test::read_text(dir / "report.json"));
  EXPECT_EQ(j["report_version"], 1);
  EXPECT_EQ(j["project"]["file"], window.projectPath().toStdString());  // the autosaved project
  EXPECT_EQ(j["project"]["input_spec"], "ids:int64[1,8]");
  ASSERT_EQ(j["profiles"].size(), 1u);
  EXPECT_EQ(j["profiles"][0]["time_basis"], "cpu");
  const std::size_t categories = j["profiles"][0]["categories"].size();
  EXPECT_GT(categories, 0u);

  const auto tables = mlopt::test::markdown_tables(mlopt::test::read_text(dir / "report.md"));
  const auto* ranking = mlopt::test::find_table(tables, "Where the time goes");
  ASSERT_NE(ranking, nullptr);
  EXPECT_EQ(ranking->rows.size(), categories);

  const auto csv = mlopt::test::parse_csv(mlopt::test::read_text(dir / "report.csv"));
  ASSERT_GT(csv.size(), 20u);
  EXPECT_EQ(csv[0], (std::vector<std::string>{"section", "name", "metric", "value", "unit"}));
  std::size_t category_rows = 0;
  for (const auto& row : csv) {
    ASSERT_EQ(row.size(), 5u);
    category_rows += row[0] == "category" && row[2] == "time";
  }
  EXPECT_EQ(category_rows, categories);

  const auto html = mlopt::test::read_text(dir / "report.html");
  EXPECT_EQ(mlopt::test::check_markup(html, true), "");
  EXPECT_EQ(mlopt::test::count(html, "<svg"), 2u);  // time per category, memory
  EXPECT_EQ(html.find("http"), std::string::npos);

  const auto pdf = mlopt::test::read_text(dir / "report.pdf");
  EXPECT_EQ(pdf.rfind("%PDF-", 0), 0u);
  EXPECT_NE(pdf.find("%%EOF", pdf.size() - 16), std::string::npos);
  EXPECT_GT(pdf.size(), 5'000u);
  EXPECT_GE(mlopt::test::count(pdf, "/Type /Page\n"), 1u);

  // The menu's way: File › Export report… asks for a file; a name typed
  // without an extension takes the chosen format's.
  QTimer answer;
  QObject::connect(&answer, &QTimer::timeout, [&] {
    auto* dialog = qobject_cast<QFileDialog*>(QApplication::activeModalWidget());
    if (!dialog) return;
    answer.stop();
    dialog->selectNameFilter(QStringLiteral("Markdown (*.md)"));
    // Typed into the name box (selectFile leaves a focused box alone), in
    // the folder the dialog suggests: the model's.
    auto* name = dialog->findChild<QLineEdit*>(QStringLiteral("fileNameEdit"));
    if (!name) {
      ADD_FAILURE() << "no file name box in the dialog";
      static_cast<QDialog*>(dialog)->reject();
      return;
    }
    name->setText(QStringLiteral("from-menu"));
    static_cast<QDialog*>(dialog)->accept();  // QFileDialog::accept, protected there
  });
  answer.start(20);
  exportAction->trigger();  // returns once the dialog is accepted
  answer.stop();
  EXPECT_TRUE(QFileInfo::exists(qpath(dir / "from-menu.md"))) << window.statusText().toStdString();

  // Errors show as dialogs, and nothing is written.
  QSignalSpy errors(&window, &MainWindow::errorShown);
  EXPECT_FALSE(window.exportReport(qpath(dir / "report.docx")));
  ASSERT_EQ(errors.count(), 1);
  EXPECT_EQ(errors.back().at(0).toString(), "Cannot export the report");
  EXPECT_TRUE(errors.back().at(1).toString().contains(".html, .pdf, .json, .csv or .md"));
  EXPECT_EQ(closeErrorDialogs(window), 1);
  EXPECT_FALSE(window.exportReport(qpath(dir / "no-such-folder" / "report.html")));
  ASSERT_EQ(errors.count(), 2);
  EXPECT_TRUE(errors.back().at(1).toString().contains("report.html")) << errors.back().at(1).toString().toStdString();
  EXPECT_EQ(closeErrorDialogs(window), 1);
  EXPECT_FALSE(QFileInfo::exists(qpath(dir / "no-such-folder")));
  EXPECT_FALSE(QFileInfo::exists(qpath(dir / "report.docx")));
}
