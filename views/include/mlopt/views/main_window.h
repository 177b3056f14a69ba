#pragma once
// mlopt studio's main window: the model panel (a dock) and the results
// panel; File (open a model or a project, recent files, save, export a
// report), Run
// (profile, cancel, optimize) and View (theme) menus with shortcuts; drag and drop of
// .pt and .mlopt files; the window layout, recent files and theme kept in
// QSettings. Loading and profiling run on worker threads; every profile is
// saved into the project at once (next to the model, MODEL.pt.mlopt, while
// the project has no file yet), so a result is never lost; closing or
// opening another file with unsaved edits asks first. Errors from the
// libraries show as dialogs with their message, and the window carries on.
#include <QMainWindow>
#include <QString>
#include <QStringList>

#include <filesystem>
#include <functional>
#include <memory>

#include "mlopt/core/model.h"
#include "mlopt/core/project.h"
#include "mlopt/views/theme.h"

class QAction;
class QLabel;
class QMenu;
class QProgressBar;
class QSpinBox;

namespace mlopt::views {

class ComparePanel;
class ModelLoader;
class ModelPanel;
class OptimizeDialog;
class ProfileRunner;
class ResultsPanel;
struct LoadOutcome;
struct ProfileOutcome;
struct OptimizeResult;
struct TimingResult;

struct MainWindowOptions {
  // Devices offered in the input editor; the first is the default.
  QStringList devices{QStringLiteral("cpu")};
  int iterations = 10;  // profiled forwards (the toolbar's spin box starts here)
  int warmup = 3;
};

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  enum class Answer { Save, Discard, Cancel };
  // Asked before unsaved changes would be lost; the default shows a
  // QMessageBox (tests answer without one).
  using UnsavedPrompt = std::function<Answer(const QString& question)>;

  explicit MainWindow(MainWindowOptions options = {}, QWidget* parent = nullptr);
  ~MainWindow() override;

  // By extension: .mlopt opens a project, anything else a model. False when
  // nothing was opened: busy, the user kept unsaved changes, or the project
  // could not be read (a dialog says why). A model loads in the background:
  // modelLoaded or an error dialog follows.
  bool openFile(const QString& path);
  bool openModel(const QString& path);
  bool openProject(const QString& path);
  // Saves to the project's file, asking for one if it has none.
  bool saveProject();
  bool saveProjectAs(const QString& path);
  // Writes the open project (its runs and profiles, saved or not) as a
  // report; the format by the file's extension: .html, .pdf, .json, .csv or
  // .md (mlopt/report, mlopt/views/report_pdf.h). False, with a dialog
  // saying why, when the extension is none of those or the file cannot be
  // written. File › Export report… (Ctrl+E) asks for the file, then calls this.
  bool exportReport(const QString& path);
  // Starts profiling the open model with the editor's inputs, device and
  // dtype; false (with a dialog for invalid inputs) when it cannot start.
  bool startProfile();
  void cancelProfile();
  // Run › Optimize… (Ctrl+Alt+O): opens the optimize dialog on the open
  // model with the editor's inputs; false (with a dialog for invalid inputs)
  // when it cannot. Its outcomes go into Project::optimizations and
  // ::transforms, its timed runs into Project::runs (autosaved, as profiles).
  bool openOptimize();
  // The input spec, as on the command line (--input).
  void setInputSpec(const QString& spec);

  void setTheme(Theme theme);
  Theme theme() const { return theme_; }
  void setUnsavedPrompt(UnsavedPrompt prompt) { prompt_ = std::move(prompt); }

  QString modelPath() const;
  QString projectPath() const { return project_path_; }
  const Project& project() const { return project_; }
  bool hasUnsavedChanges() const { return isWindowModified(); }
  bool isBusy() const;
  QStringList recentFiles() const;
  QString lastError() const { return last_error_; }
  // What the status bar says now.
  QString statusText() const;

  ModelPanel* modelPanel() const { return model_panel_; }
  ResultsPanel* resultsPanel() const { return results_panel_; }
  // The results' Compare tab: every run and profile of the project.
  ComparePanel* comparePanel() const { return compare_; }
  ProfileRunner* profileRunner() const { return runner_; }
  OptimizeDialog* optimizeDialog() const { return optimize_dialog_; }
  // The last optimize's model (null before one, or after another model or
  // project was opened): the dialog times it against the baseline.
  std::shared_ptr<const Model> optimizedModel() const { return optimized_model_; }
  QProgressBar* progressBar() const { return progress_; }
  QSpinBox* iterationsBox() const { return iterations_; }

 signals:
  void modelLoaded(const QString& path);
  void modelLoadFailed(const QString& message);
  void profileFinished();
  void profileStopped();  // finished, failed or cancelled
  void errorShown(const QString& title, const QString& message);

 protected:
  void closeEvent(QCloseEvent* event) override;
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private:
  void createActions();
  void createMenus();
  void restoreSettings();
  void saveSettings() const;
  void addRecent(const QString& path);
  void rebuildRecentMenu();
  void updateActions();
  void updateTitle();
  void setModified(bool modified);
  bool confirmDiscard();
  void startLoad();
  void onLoaded(const LoadOutcome& outcome);
  void onLoadFailed(const QString& title, const QString& message);
  void onProfileFinished(const ProfileOutcome& outcome);
  void onProfileFailed(const QString& title, const QString& message);
  void onProgress(int done, int total);
  void onOptimized(const OptimizeResult& result);
  void onTimed(const TimingResult& result);
  void updateProjectSubject();
  // `what` was just added ("The profile"): the status bar and errors name it.
  void autosave(const QString& what);
  QString autosavePath();
  void showError(const QString& title, const QString& message);
  void showStatus(const QString& message);
  void chooseAndOpen(bool project);
  bool chooseAndSave();
  void chooseAndExport();

  MainWindowOptions options_;
  ModelPanel* model_panel_;
  ResultsPanel* results_panel_;
  ComparePanel* compare_;
  ModelLoader* loader_;
  ProfileRunner* runner_;
  OptimizeDialog* optimize_dialog_;
  QProgressBar* progress_;
  QLabel* status_label_;
  QSpinBox* iterations_ = nullptr;
  QMenu* recent_menu_ = nullptr;
  QAction* open_model_ = nullptr;
  QAction* open_project_ = nullptr;
  QAction* save_ = nullptr;
  QAction* save_as_ = nullptr;
  QAction* export_report_ = nullptr;
  QAction* quit_ = nullptr;
  QAction* profile_ = nullptr;
  QAction* cancel_ = nullptr;
  QAction* optimize_ = nullptr;
  QAction* find_ = nullptr;
  QAction* light_ = nullptr;
  QAction* dark_ = nullptr;

  std::filesystem::path model_file_;    // empty: no model open
  std::shared_ptr<const Model> model_;  // null while loading or after a failed load
  std::shared_ptr<const Model> optimized_model_;  // the last optimize's, of model_file_
  Project project_;
  QString project_path_;  // empty: never saved
  Theme theme_ = Theme::Light;
  UnsavedPrompt prompt_;
  QString last_error_;
};

}  // namespace mlopt::views
