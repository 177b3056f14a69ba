#include "mlopt/views/main_window.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QToolBar>

#include "mlopt/core/atomic_file.h"
#include "mlopt/core/error.h"
#include "mlopt/profiler/profile_json.h"
#include "mlopt/report/format.h"
#include "mlopt/report/report.h"
#include "mlopt/views/compare_panel.h"
#include "mlopt/views/input_spec_editor.h"
#include "mlopt/views/model_loader.h"
#include "mlopt/views/model_panel.h"
#include "mlopt/views/optimize_dialog.h"
#include "mlopt/views/profile_runner.h"
#include "mlopt/views/report_pdf.h"
#include "mlopt/views/results_panel.h"
#include "mlopt/views/variant_list_model.h"

namespace mlopt::views {
namespace {

constexpr int kMaxRecent = 10;
constexpr const char* kRecentKey = "recentFiles";
constexpr const char* kThemeKey = "theme";
constexpr const char* kGeometryKey = "window/geometry";
constexpr const char* kStateKey = "window/state";
constexpr const char* kModelSplitterKey = "window/modelSplitter";
constexpr const char* kIterationsKey = "profile/iterations";

const QString kProjectSuffix = QStringLiteral("mlopt");

bool isProject(const QString& path) { return QFileInfo(path).suffix().compare(kProjectSuffix, Qt::CaseInsensitive) == 0; }

bool isOpenable(const QString& path) {
  const QString suffix = QFileInfo(path).suffix().toLower();
  return suffix == QLatin1String("pt") || suffix == kProjectSuffix;
}

QString toQString(const std::filesystem::path& path) { return QString::fromStdString(path.string()); }
std::filesystem::path toPath(const QString& path) { return std::filesystem::path(path.toStdString()); }

MainWindow::Answer askWithMessageBox(QWidget* parent, const QString& question) {
  const auto button = QMessageBox::question(parent, QObject::tr("Unsaved changes"), question,
                                            QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel,
                                            QMessageBox::Save);
  if (button == QMessageBox::Save) return MainWindow::Answer::Save;
  if (button == QMessageBox::Discard) return MainWindow::Answer::Discard;
  return MainWindow::Answer::Cancel;
}

}  // namespace

MainWindow::MainWindow(MainWindowOptions options, QWidget* parent)
    : QMainWindow(parent),
      options_(std::move(options)),
      model_panel_(new ModelPanel(this)),
      results_panel_(new ResultsPanel(this)),
      compare_(new ComparePanel(this)),
      loader_(new ModelLoader(this)),
      runner_(new ProfileRunner(this)),
      optimize_dialog_(new OptimizeDialog(this)),
      progress_(new QProgressBar(this)),
      status_label_(new QLabel(this)) {
  setObjectName(QStringLiteral("mainWindow"));
  setWindowIcon(QIcon(QStringLiteral(":/icons/mlopt.svg")));
  setAcceptDrops(true);
  prompt_ = [this](const QString& question) { return askWithMessageBox(this, question); };

  auto* dock = new QDockWidget(tr("Model"), this);
  dock->setObjectName(QStringLiteral("modelDock"));
  dock->setWidget(model_panel_);
  dock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable);
  addDockWidget(Qt::LeftDockWidgetArea, dock);
  setCentralWidget(results_panel_);
  results_panel_->tabs()->addTab(compare_, tr("&Compare"));
  model_panel_->inputEditor()->setDevices(options_.devices);

  progress_->setObjectName(QStringLiteral("profileProgress"));
  progress_->setMaximumWidth(240);
  progress_->setVisible(false);
  status_label_->setObjectName(QStringLiteral("statusLabel"));
  statusBar()->addWidget(status_label_, 1);
  statusBar()->addPermanentWidget(progress_);

  createActions();
  createMenus();

  connect(loader_, &ModelLoader::loaded, this, &MainWindow::onLoaded);
  connect(loader_, &ModelLoader::failed, this, &MainWindow::onLoadFailed);
  connect(loader_, &ModelLoader::stopped, this, &MainWindow::updateActions);
  connect(runner_, &ProfileRunner::progress, this, &MainWindow::onProgress);
  connect(runner_, &ProfileRunner::finished, this, &MainWindow::onProfileFinished);
  connect(runner_, &ProfileRunner::failed, this, &MainWindow::onProfileFailed);
  connect(runner_, &ProfileRunner::cancelled, this, [this] { showStatus(tr("Profiling cancelled")); });
  connect(runner_, &ProfileRunner::stopped, this, [this] {
    progress_->setVisible(false);
    updateActions();
    emit profileStopped();
  });
  connect(optimize_dialog_, &OptimizeDialog::started, this, &MainWindow::updateActions);
  connect(optimize_dialog_, &OptimizeDialog::stopped, this, &MainWindow::updateActions);
  connect(optimize_dialog_, &OptimizeDialog::optimized, this, &MainWindow::onOptimized);
  connect(optimize_dialog_, &OptimizeDialog::timed, this, &MainWindow::onTimed);
  connect(optimize_dialog_, &OptimizeDialog::failed, this, &MainWindow::showError);
  auto* editor = model_panel_->inputEditor();
  connect(editor, &InputSpecEditor::edited, this, [this] {
    if (!model_file_.empty()) setModified(true);
  });
  connect(editor, &InputSpecEditor::validityChanged, this, &MainWindow::updateActions);

  restoreSettings();
  updateActions();
  updateTitle();
  showStatus(tr("Open a model (.pt) or a project (.mlopt) to begin"));
}

MainWindow::~MainWindow() {
  // The workers refer to models the window owns: stop and wait for them.
  runner_->cancel();
  runner_->wait();
  loader_->wait();
  optimize_dialog_->wait();
}

void MainWindow::createActions() {
  open_model_ = new QAction(QIcon::fromTheme(QStringLiteral("document-open")), tr("&Open model…"), this);
  open_model_->setObjectName(QStringLiteral("actionOpenModel"));
  open_model_->setShortcut(QKeySequence::Open);
  open_model_->setStatusTip(tr("Open a TorchScript model (.pt)"));
  connect(open_model_, &QAction::triggered, this, [this] { chooseAndOpen(false); });

  open_project_ = new QAction(tr("Open &project…"), this);
  open_project_->setObjectName(QStringLiteral("actionOpenProject"));
  open_project_->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
  open_project_->setStatusTip(tr("Open an mlopt project (.mlopt) with its model, inputs and profiles"));
  connect(open_project_, &QAction::triggered, this, [this] { chooseAndOpen(true); });

  save_ = new QAction(QIcon::fromTheme(QStringLiteral("document-save")), tr("&Save project"), this);
  save_->setObjectName(QStringLiteral("actionSave"));
  save_->setShortcut(QKeySequence::Save);
  connect(save_, &QAction::triggered, this, &MainWindow::saveProject);

  save_as_ = new QAction(tr("Save project &as…"), this);
  save_as_->setObjectName(QStringLiteral("actionSaveAs"));
  save_as_->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_S));
  connect(save_as_, &QAction::triggered, this, &MainWindow::chooseAndSave);

  export_report_ = new QAction(tr("&Export report…"), this);
  export_report_->setObjectName(QStringLiteral("actionExportReport"));
  export_report_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
  export_report_->setStatusTip(tr("Write the project's runs and profiles as HTML, PDF, JSON, CSV or Markdown"));
  connect(export_report_, &QAction::triggered, this, &MainWindow::chooseAndExport);

  quit_ = new QAction(tr("&Quit"), this);
  quit_->setObjectName(QStringLiteral("actionQuit"));
  quit_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Q));
  quit_->setMenuRole(QAction::QuitRole);
  connect(quit_, &QAction::triggered, this, &QWidget::close);

  profile_ = new QAction(QIcon::fromTheme(QStringLiteral("media-playback-start")), tr("&Profile"), this);
  profile_->setObjectName(QStringLiteral("actionProfile"));
  profile_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_P));
  profile_->setStatusTip(tr("Profile the model with these inputs: where the time goes, and why"));
  connect(profile_, &QAction::triggered, this, &MainWindow::startProfile);

  cancel_ = new QAction(QIcon::fromTheme(QStringLiteral("process-stop")), tr("&Cancel"), this);
  cancel_->setObjectName(QStringLiteral("actionCancel"));
  cancel_->setShortcut(QKeySequence(Qt::Key_Escape));
  cancel_->setStatusTip(tr("Stop profiling after the current forward"));
  connect(cancel_, &QAction::triggered, this, &MainWindow::cancelProfile);

  optimize_ = new QAction(tr("&Optimize…"), this);
  optimize_->setObjectName(QStringLiteral("actionOptimize"));
  // Ctrl+Shift+O is Open project's; an ambiguous shortcut would trigger neither.
  optimize_->setShortcut(QKeySequence(Qt::CTRL | Qt::ALT | Qt::Key_O));
  optimize_->setStatusTip(tr("Rewrite attention and MLP blocks to call mlopt's kernels, verify, and time the result"));
  connect(optimize_, &QAction::triggered, this, &MainWindow::openOptimize);

  find_ = new QAction(tr("&Filter the ranking"), this);
  find_->setObjectName(QStringLiteral("actionFind"));
  find_->setShortcut(QKeySequence::Find);
  connect(find_, &QAction::triggered, results_panel_, &ResultsPanel::focusFilter);

  auto* themes = new QActionGroup(this);
  light_ = new QAction(tr("&Light theme"), themes);
  light_->setObjectName(QStringLiteral("actionThemeLight"));
  light_->setCheckable(true);
  light_->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_L));
  dark_ = new QAction(tr("&Dark theme"), themes);
  dark_->setObjectName(QStringLiteral("actionThemeDark"));
  dark_->setCheckable(true);
  dark_->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_D));
  connect(light_, &QAction::triggered, this, [this] { setTheme(Theme::Light); });
  connect(dark_, &QAction::triggered, this, [this] { setTheme(Theme::Dark); });
}

void MainWindow::createMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(open_model_);
  file->addAction(open_project_);
  recent_menu_ = file->addMenu(tr("Open &recent"));
  recent_menu_->setObjectName(QStringLiteral("menuRecent"));
  file->addSeparator();
  file->addAction(save_);
  file->addAction(save_as_);
  file->addSeparator();
  file->addAction(export_report_);
  file->addSeparator();
  file->addAction(quit_);

  QMenu* run = menuBar()->addMenu(tr("&Run"));
  run->addAction(profile_);
  run->addAction(cancel_);
  run->addSeparator();
  run->addAction(optimize_);

  QMenu* view = menuBar()->addMenu(tr("&View"));
  view->addAction(find_);
  view->addSeparator();
  view->addAction(light_);
  view->addAction(dark_);

  QToolBar* tools = addToolBar(tr("Main"));
  tools->setObjectName(QStringLiteral("mainToolBar"));
  tools->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  tools->addAction(open_model_);
  tools->addAction(save_);
  tools->addSeparator();
  tools->addAction(profile_);
  tools->addAction(cancel_);
  tools->addAction(optimize_);
  iterations_ = new QSpinBox(tools);
  iterations_->setObjectName(QStringLiteral("iterationsSpin"));
  iterations_->setRange(1, 1000);
  iterations_->setValue(options_.iterations);
  iterations_->setPrefix(tr("iterations: "));
  iterations_->setToolTip(tr("Profiled forwards (the un-profiled baseline runs as many)"));
  tools->addWidget(iterations_);
  rebuildRecentMenu();
}

void MainWindow::restoreSettings() {
  QSettings settings;
  if (!restoreGeometry(settings.value(kGeometryKey).toByteArray())) resize(1400, 900);  // first start
  if (!restoreState(settings.value(kStateKey).toByteArray())) {
    // First start: the model panel takes about a third of the width.
    if (auto* dock = findChild<QDockWidget*>(QStringLiteral("modelDock"))) resizeDocks({dock}, {440}, Qt::Horizontal);
  }
  model_panel_->splitter()->restoreState(settings.value(kModelSplitterKey).toByteArray());
  if (settings.contains(kIterationsKey)) iterations_->setValue(settings.value(kIterationsKey).toInt());
  setTheme(theme_from_string(settings.value(kThemeKey, to_string(Theme::Light)).toString()));
}

void MainWindow::saveSettings() const {
  QSettings settings;
  settings.setValue(kGeometryKey, saveGeometry());
  settings.setValue(kStateKey, saveState());
  settings.setValue(kModelSplitterKey, model_panel_->splitter()->saveState());
  settings.setValue(kIterationsKey, iterations_->value());
}

void MainWindow::setTheme(Theme theme) {
  theme_ = theme;
  (theme == Theme::Dark ? dark_ : light_)->setChecked(true);
  if (auto* app = qobject_cast<QApplication*>(QCoreApplication::instance())) apply_theme(*app, theme);
  QSettings().setValue(kThemeKey, to_string(theme));
}

QStringList MainWindow::recentFiles() const { return QSettings().value(kRecentKey).toStringList(); }

void MainWindow::addRecent(const QString& path) {
  const QString absolute = QFileInfo(path).absoluteFilePath();
  QStringList files = recentFiles();
  files.removeAll(absolute);
  files.prepend(absolute);
  while (files.size() > kMaxRecent) files.removeLast();
  QSettings().setValue(kRecentKey, files);
  rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu() {
  recent_menu_->clear();
  const QStringList files = recentFiles();
  for (int i = 0; i < files.size(); ++i) {
    const QString& path = files[i];
    QAction* action = recent_menu_->addAction(
        QStringLiteral("&%1 %2").arg(i + 1 < 10 ? QString::number(i + 1) : QStringLiteral("1&0"),
                                     QFileInfo(path).fileName()));
    action->setToolTip(path);
    action->setStatusTip(path);
    connect(action, &QAction::triggered, this, [this, path] { openFile(path); });
  }
  if (!files.isEmpty()) {
    recent_menu_->addSeparator();
    QAction* clear = recent_menu_->addAction(tr("Clear the list"));
    connect(clear, &QAction::triggered, this, [this] {
      QSettings().remove(kRecentKey);
      rebuildRecentMenu();
    });
  }
  recent_menu_->setEnabled(!files.isEmpty());
}

bool MainWindow::isBusy() const {
  return loader_->isRunning() || runner_->isRunning() || optimize_dialog_->isRunning();
}

void MainWindow::updateActions() {
  const bool busy = isBusy();
  const bool has_model = model_ != nullptr;
  open_model_->setEnabled(!busy);
  open_project_->setEnabled(!busy);
  recent_menu_->setEnabled(!busy && !recentFiles().isEmpty());
  save_->setEnabled(has_model && !busy);
  save_as_->setEnabled(has_model && !busy);
  // A project whose model no longer loads still has its results to report.
  export_report_->setEnabled(!model_file_.empty() && !runner_->isRunning());
  profile_->setEnabled(has_model && !busy && model_panel_->inputEditor()->isValid());
  cancel_->setEnabled(runner_->isRunning());
  optimize_->setEnabled(has_model && !busy && model_panel_->inputEditor()->isValid());
  iterations_->setEnabled(!runner_->isRunning());
  model_panel_->inputEditor()->setEnabled(!runner_->isRunning());
}

void MainWindow::updateTitle() {
  QString name;
  if (!project_path_.isEmpty()) {
    name = QFileInfo(project_path_).fileName();
  } else if (!model_file_.empty()) {
    name = QFileInfo(modelPath()).fileName();
  }
  setWindowTitle(name.isEmpty() ? tr("mlopt studio") : tr("%1[*] — mlopt studio").arg(name));
}

void MainWindow::setModified(bool modified) {
  setWindowModified(modified);
  updateTitle();
}

QString MainWindow::modelPath() const { return toQString(model_file_); }

bool MainWindow::confirmDiscard() {
  if (!isWindowModified()) return true;
  switch (prompt_(tr("The project has unsaved changes. Save them first?"))) {
    case Answer::Save:
      return saveProject();
    case Answer::Discard:
      return true;
    case Answer::Cancel:
      return false;
  }
  return false;
}

bool MainWindow::openFile(const QString& path) { return isProject(path) ? openProject(path) : openModel(path); }

bool MainWindow::openModel(const QString& path) {
  if (isBusy()) {
    showStatus(tr("Busy: wait for the current work to finish, or cancel it"));
    return false;
  }
  if (!confirmDiscard()) return false;
  project_ = Project{};
  project_path_.clear();
  model_file_ = toPath(QFileInfo(path).absoluteFilePath());
  model_.reset();
  optimized_model_.reset();
  model_panel_->clear();
  results_panel_->clear();
  compare_->clear();
  setModified(false);
  addRecent(path);
  startLoad();
  return true;
}

bool MainWindow::openProject(const QString& path) {
  if (isBusy()) {
    showStatus(tr("Busy: wait for the current work to finish, or cancel it"));
    return false;
  }
  if (!confirmDiscard()) return false;
  Project project;
  try {
    project = Project::load(toPath(path));
  } catch (const std::exception& e) {
    showError(tr("Cannot open the project"), QString::fromUtf8(e.what()));
    return false;
  }
  project_ = std::move(project);
  project_path_ = QFileInfo(path).absoluteFilePath();
  model_file_ = project_.model_path;
  model_.reset();
  optimized_model_.reset();
  model_panel_->clear();
  results_panel_->clear();
  compare_->setProject(project_);

  auto* editor = model_panel_->inputEditor();
  editor->setSpecText(QString::fromStdString(project_.input_spec.to_string()));
  editor->setDType(project_.dtype);
  if (!editor->setDevice(project_.device)) {
    editor->setDevice(Device{});
    showStatus(tr("The project ran on %1, which is not available here: using the CPU")
                   .arg(QString::fromStdString(to_string(project_.device))));
  }
  if (!project_.profiles.empty()) {
    try {
      results_panel_->setProfile(
          std::make_shared<const profiler::ProfileResult>(profiler::profile_from_json(project_.profiles.back())));
    } catch (const std::exception& e) {
      showError(tr("Cannot show the project's last profile"), QString::fromUtf8(e.what()));
    }
  }
  setModified(false);
  addRecent(path);
  startLoad();
  return true;
}

void MainWindow::setInputSpec(const QString& spec) { model_panel_->inputEditor()->setSpecText(spec); }

void MainWindow::startLoad() {
  const auto* editor = model_panel_->inputEditor();
  LoadJob job{model_file_, editor->loadOptions(), editor->spec()};
  loader_->start(std::move(job));
  progress_->setRange(0, 0);  // busy, no steps
  progress_->setVisible(true);
  showStatus(tr("Loading %1…").arg(modelPath()));
  updateActions();
  updateTitle();
}

void MainWindow::onLoaded(const LoadOutcome& outcome) {
  progress_->setVisible(false);
  model_ = outcome.model;
  model_panel_->setModelInfo(outcome.info);
  if (!outcome.analysis_problem.isEmpty()) {
    showStatus(tr("Loaded %1; its shapes are unknown: %2").arg(modelPath(), outcome.analysis_problem));
  } else {
    showStatus(tr("Loaded %1").arg(modelPath()));
  }
  updateActions();
  emit modelLoaded(modelPath());
}

void MainWindow::onLoadFailed(const QString& title, const QString& message) {
  progress_->setVisible(false);
  model_.reset();
  model_panel_->clear();
  showError(title, message);
  updateActions();
  emit modelLoadFailed(message);
}

bool MainWindow::startProfile() {
  if (!model_ || isBusy()) return false;
  auto* editor = model_panel_->inputEditor();
  if (!editor->isValid()) {
    showError(tr("The inputs are not valid"), editor->message());
    return false;
  }
  ProfileJob job;
  job.model_file = model_file_;
  job.load = editor->loadOptions();
  job.model = model_;
  job.spec = *editor->spec();
  job.options.iterations = iterations_->value();
  job.options.warmup = options_.warmup;
  progress_->setRange(0, profiler::progress_total(job.options));
  progress_->setValue(0);
  progress_->setVisible(true);
  if (!runner_->start(std::move(job))) return false;
  showStatus(tr("Profiling %1 on %2…")
                 .arg(QFileInfo(modelPath()).fileName(), QString::fromStdString(to_string(editor->device()))));
  updateActions();
  return true;
}

void MainWindow::cancelProfile() {
  if (!runner_->isRunning()) return;
  runner_->cancel();
  showStatus(tr("Cancelling after the current forward…"));
}

void MainWindow::onProgress(int done, int total) {
  progress_->setRange(0, total);
  progress_->setValue(done);
}

void MainWindow::onProfileFinished(const ProfileOutcome& outcome) {
  if (outcome.model != model_) {
    // Loaded anew for another device or dtype: the panel shows its sizes.
    model_ = outcome.model;
    model_panel_->setModelInfo(model_->info());
  }
  results_panel_->setProfile(outcome.result);
  updateProjectSubject();
  project_.profiles.push_back(profiler::to_json(*outcome.result));
  autosave(tr("The profile"));  // may take in an earlier session's runs and profiles
  compare_->setProject(project_);
  emit profileFinished();
}

bool MainWindow::openOptimize() {
  if (!model_ || isBusy()) return false;
  auto* editor = model_panel_->inputEditor();
  if (!editor->isValid()) {
    showError(tr("The inputs are not valid"), editor->message());
    return false;
  }
  OptimizeSubject subject;
  subject.model_file = model_file_;
  subject.load = editor->loadOptions();
  subject.model = model_;
  subject.spec = *editor->spec();
  subject.warmup = options_.warmup;
  subject.iterations = iterations_->value();
  optimize_dialog_->setSubject(std::move(subject));
  optimize_dialog_->open();  // window-modal, not exec()'d: the event loop carries on
  return true;
}

void MainWindow::onOptimized(const OptimizeResult& result) {
  optimized_model_ = result.optimized;
  updateProjectSubject();
  // As `mlopt optimize --project`: the transforms asked for, and what each did.
  project_.transforms.clear();
  for (const auto& outcome : result.outcomes) project_.transforms.push_back(outcome.transform);
  project_.optimizations = result.outcomes;
  autosave(tr("The optimize outcomes"));
}

void MainWindow::onTimed(const TimingResult& result) {
  updateProjectSubject();
  project_.runs.push_back(result.baseline);
  project_.runs.push_back(result.optimized);
  autosave(tr("The timed runs"));  // an earlier session's runs may come first now
  compare_->setProject(project_);
  // Compare shows the pair just timed: runs come first among its variants.
  const int optimized_run = static_cast<int>(project_.runs.size()) - 1;
  compare_->variantModel()->setCheckedRows({optimized_run - 1, optimized_run});
}

void MainWindow::onProfileFailed(const QString& title, const QString& message) { showError(title, message); }

void MainWindow::updateProjectSubject() {
  const auto* editor = model_panel_->inputEditor();
  project_.model_path = std::filesystem::absolute(model_file_);
  if (editor->spec()) project_.input_spec = *editor->spec();
  project_.device = editor->device();
  if (model_) {
    project_.dtype = model_->info().dtype;
  } else if (editor->dtype()) {
    project_.dtype = *editor->dtype();
  }
}

QString MainWindow::autosavePath() {
  // The first autosave of a project without a file: next to the model. A
  // project already there (an earlier session's) is continued, not
  // overwritten; one that cannot be read is left alone for a numbered name.
  const QString base = modelPath();
  for (int n = 1;; ++n) {
    const QString path = n == 1 ? base + QStringLiteral(".mlopt") : QStringLiteral("%1.%2.mlopt").arg(base).arg(n);
    if (!QFileInfo::exists(path)) return path;
    try {
      Project earlier = Project::load(toPath(path));
      project_.runs.insert(project_.runs.begin(), earlier.runs.begin(), earlier.runs.end());
      project_.profiles.insert(project_.profiles.begin(), earlier.profiles.begin(), earlier.profiles.end());
      for (const auto& t : earlier.transforms) project_.transforms.push_back(t);
      return path;
    } catch (const Error&) {
      continue;
    }
  }
}

void MainWindow::autosave(const QString& what) {
  const bool first = project_path_.isEmpty();
  const QString path = first ? autosavePath() : project_path_;
  try {
    project_.save(toPath(path));
  } catch (const std::exception& e) {
    setModified(true);
    showError(tr("%1 could not be saved").arg(what),
              tr("%1\n\nSave the project elsewhere with File › Save project as… to keep it.")
                  .arg(QString::fromUtf8(e.what())));
    return;
  }
  project_path_ = path;
  setModified(false);
  if (first) {
    addRecent(path);
    showStatus(tr("%1 saved to %2 (autosave: the project file next to the model; File › Save project as… "
                  "moves it)")
                   .arg(what, QDir::toNativeSeparators(path)));
  } else {
    showStatus(tr("%1 saved to %2").arg(what, QDir::toNativeSeparators(path)));
  }
}

bool MainWindow::saveProject() {
  if (project_path_.isEmpty()) return chooseAndSave();
  return saveProjectAs(project_path_);
}

bool MainWindow::saveProjectAs(const QString& path) {
  if (model_file_.empty()) return false;
  updateProjectSubject();
  if (project_.input_spec.tensors.empty()) {
    // A project is re-opened with its spec; one without cannot be.
    showError(tr("The project cannot be saved yet"),
              tr("Set valid inputs first: %1").arg(model_panel_->inputEditor()->message()));
    return false;
  }
  try {
    project_.save(toPath(path));
  } catch (const std::exception& e) {
    showError(tr("Cannot save the project"), QString::fromUtf8(e.what()));
    return false;
  }
  project_path_ = QFileInfo(path).absoluteFilePath();
  setModified(false);
  addRecent(project_path_);
  showStatus(tr("Saved %1").arg(QDir::toNativeSeparators(project_path_)));
  return true;
}

void MainWindow::chooseAndOpen(bool project) {
  const QString dir = model_file_.empty() ? QDir::currentPath() : QFileInfo(modelPath()).absolutePath();
  const QString path =
      project ? QFileDialog::getOpenFileName(this, tr("Open project"), dir, tr("mlopt projects (*.mlopt)"))
              : QFileDialog::getOpenFileName(this, tr("Open model"), dir,
                                             tr("TorchScript models (*.pt);;mlopt projects (*.mlopt);;All files (*)"));
  if (!path.isEmpty()) openFile(path);
}

bool MainWindow::chooseAndSave() {
  const QString suggested = project_path_.isEmpty() ? modelPath() + QStringLiteral(".mlopt") : project_path_;
  QString path = QFileDialog::getSaveFileName(this, tr("Save project"), suggested, tr("mlopt projects (*.mlopt)"));
  if (path.isEmpty()) return false;
  if (!isProject(path)) path += QStringLiteral(".mlopt");
  return saveProjectAs(path);
}

bool MainWindow::exportReport(const QString& path) {
  if (model_file_.empty()) return false;
  const auto format = report::format_for_file(toPath(path));
  if (!format) {
    showError(tr("Cannot export the report"),
              tr("%1: choose a file ending in .html, .pdf, .json, .csv or .md").arg(QDir::toNativeSeparators(path)));
    return false;
  }
  updateProjectSubject();
  try {
    report::ReportOptions options;
    if (!project_path_.isEmpty()) options.project_file = toPath(project_path_);
    const report::Report r = report::build_report(project_, options);
    write_file_atomically(toPath(path), render_report(r, *format));
  } catch (const std::exception& e) {
    showError(tr("Cannot export the report"), QString::fromUtf8(e.what()));
    return false;
  }
  showStatus(tr("Report written to %1").arg(QDir::toNativeSeparators(path)));
  return true;
}

void MainWindow::chooseAndExport() {
  // One filter per format; the first is the default.
  const QStringList filters = {tr("HTML report (*.html)"), tr("PDF document (*.pdf)"), tr("JSON data (*.json)"),
                               tr("CSV table (*.csv)"), tr("Markdown (*.md)")};
  const QFileInfo base(project_path_.isEmpty() ? modelPath() : project_path_);
  const QString suggested = base.absolutePath() + QLatin1Char('/') + base.baseName() + QStringLiteral("-report.html");
  QString selected = filters.front();
  QString path = QFileDialog::getSaveFileName(this, tr("Export report"), suggested,
                                              filters.join(QStringLiteral(";;")), &selected);
  if (path.isEmpty()) return;
  if (!report::format_for_file(toPath(path))) {
    // No known extension typed: the chosen filter's, "(*.pdf)" -> ".pdf".
    const int star = selected.lastIndexOf(QStringLiteral("*."));
    if (star >= 0) path += selected.mid(star + 1, selected.size() - star - 2);
  }
  exportReport(path);
}

void MainWindow::showError(const QString& title, const QString& message) {
  last_error_ = title + QStringLiteral(": ") + message;
  // Window-modal and opened, not exec()'d: the event loop (and any work in
  // the background) carries on while it shows.
  auto* box = new QMessageBox(QMessageBox::Critical, title, message, QMessageBox::Ok, this);
  box->setObjectName(QStringLiteral("errorDialog"));
  box->setAttribute(Qt::WA_DeleteOnClose);
  box->setTextInteractionFlags(Qt::TextSelectableByMouse);
  box->open();
  showStatus(title);
  emit errorShown(title, message);
}

QString MainWindow::statusText() const { return status_label_->text(); }

void MainWindow::showStatus(const QString& message) {
  status_label_->setText(message);
  status_label_->setToolTip(message);
}

void MainWindow::closeEvent(QCloseEvent* event) {
  if (!confirmDiscard()) {
    event->ignore();
    return;
  }
  saveSettings();
  runner_->cancel();
  runner_->wait();
  loader_->wait();
  optimize_dialog_->wait();
  event->accept();
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  const auto urls = event->mimeData()->urls();
  if (urls.size() == 1 && urls.front().isLocalFile() && isOpenable(urls.front().toLocalFile())) {
    event->acceptProposedAction();
  }
}

void MainWindow::dropEvent(QDropEvent* event) {
  const auto urls = event->mimeData()->urls();
  if (urls.size() != 1 || !urls.front().isLocalFile()) return;
  const QString path = urls.front().toLocalFile();
  if (!isOpenable(path)) return;
  event->acceptProposedAction();
  openFile(path);
}

}  // namespace mlopt::views
