#pragma once
// For the workbench's tests: the application with its settings and the
// profiler's ceilings cache in a scratch folder (never the user's), window
// options that profile quickly, fresh copies of the tiny gpt2 sample (each
// in its own folder, since a profile autosaves next to its model).
#include <QCoreApplication>
#include <QSettings>
#include <QString>

#include <filesystem>
#include <string>

#include "mlopt/views/main_window.h"
#include "qt_test_support.h"
#include "test_support.h"

namespace mlopt::test {

inline const std::filesystem::path& studio_scratch() {
  static ScratchDir dir;
  return dir.path();
}

inline void ensure_studio() {
  static bool done = false;
  if (done) return;
  done = true;
  // Before anything reads them: ceilings are measured once into the scratch cache.
  qputenv("MLOPT_CACHE_DIR", QByteArray::fromStdString((studio_scratch() / "cache").string()));
  ensure_app();
  QCoreApplication::setOrganizationName(QStringLiteral("mlopt-tests"));
  QCoreApplication::setApplicationName(QStringLiteral("mlopt-studio-tests"));
  const QString settings = QString::fromStdString((studio_scratch() / "settings").string());
  QSettings::setPath(QSettings::NativeFormat, QSettings::UserScope, settings);
  QSettings::setPath(QSettings::IniFormat, QSettings::UserScope, settings);
  QSettings().clear();
}

inline views::MainWindowOptions quick_options() {
  views::MainWindowOptions options;
  options.iterations = 2;
  options.warmup = 1;
  return options;
}

// A copy of the tiny gpt2 sample in scratch/<folder>/tiny-gpt2.pt.
inline std::filesystem::path fresh_model(const std::string& folder) {
  const auto dir = studio_scratch() / folder;
  std::filesystem::create_directories(dir);
  const auto file = dir / "tiny-gpt2.pt";
  std::filesystem::copy_file(tiny_gpt2(), file, std::filesystem::copy_options::overwrite_existing);
  return file;
}

inline QString qpath(const std::filesystem::path& p) { return QString::fromStdString(p.string()); }

}  // namespace mlopt::test
