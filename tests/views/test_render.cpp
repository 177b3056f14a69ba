// The main views rendered after a real profile, in both themes, must not be
// blank: every grab has many colours and no single colour covers nearly all
// of it. Runs on the offscreen platform in ctest, and again under Xvfb
// (StudioRender.UnderXvfb). With MLOPT_SCREENSHOT_DIR set, the grabs are
// written there as PNG files; MLOPT_SCREENSHOT_MODEL and _INPUT render
// another model than the tiny sample (e.g. samples/gpt2.pt, ids:int64[1,128]).
#include <gtest/gtest.h>

#include <QDir>
#include <QHash>
#include <QImage>
#include <QSignalSpy>
#include <QTabWidget>

#include <algorithm>

#include "mlopt/views/compare_panel.h"
#include "mlopt/views/kernel_timeline.h"
#include "mlopt/views/memory_chart.h"
#include "mlopt/views/results_panel.h"
#include "studio_test_support.h"

using namespace mlopt::views;
using mlopt::test::ensure_studio;
using mlopt::test::fresh_model;
using mlopt::test::qpath;
using mlopt::test::quick_options;

namespace {

struct Colours {
  int distinct = 0;
  double dominant_share = 1;  // of the most frequent colour
};

Colours colours(const QImage& image) {
  const QImage rgb = image.convertToFormat(QImage::Format_RGB32);
  QHash<QRgb, int> counts;
  for (int y = 0; y < rgb.height(); ++y) {
    const auto* line = reinterpret_cast<const QRgb*>(rgb.constScanLine(y));
    for (int x = 0; x < rgb.width(); ++x) ++counts[line[x]];
  }
  int most = 0;
  for (int n : counts) most = std::max(most, n);
  const double pixels = static_cast<double>(rgb.width()) * rgb.height();
  return {static_cast<int>(counts.size()), pixels > 0 ? most / pixels : 1.0};
}

void expectDrawn(const QImage& image, const char* what, int min_colours) {
  ASSERT_FALSE(image.isNull()) << what;
  ASSERT_GT(image.width(), 100) << what;
  ASSERT_GT(image.height(), 100) << what;
  const Colours c = colours(image);
  EXPECT_GE(c.distinct, min_colours) << what;
  EXPECT_LT(c.dominant_share, 0.97) << what;
  const QString dir = qEnvironmentVariable("MLOPT_SCREENSHOT_DIR");
  if (!dir.isEmpty()) {
    QDir().mkpath(dir);
    image.save(QDir(dir).filePath(QString::fromLatin1(what) + QStringLiteral(".png")));
  }
}

}  // namespace

TEST(StudioRender, MainViewsAreNotBlank) {
  ensure_studio();
  const QString other_model = qEnvironmentVariable("MLOPT_SCREENSHOT_MODEL");
  const QString model = other_model.isEmpty() ? qpath(fresh_model("render")) : other_model;
  const QString input = qEnvironmentVariable("MLOPT_SCREENSHOT_INPUT", QStringLiteral("ids:int64[1,32]"));
  MainWindow window(quick_options());
  window.resize(1400, 900);
  window.show();
  window.setInputSpec(input);
  QSignalSpy loaded(&window, &MainWindow::modelLoaded);
  ASSERT_TRUE(window.openFile(model));
  ASSERT_TRUE(loaded.wait(60'000)) << window.lastError().toStdString();
  QSignalSpy finished(&window, &MainWindow::profileFinished);
  ASSERT_TRUE(window.startProfile());
  ASSERT_TRUE(finished.wait(180'000)) << window.lastError().toStdString();

  ResultsPanel* results = window.resultsPanel();
  for (const Theme theme : {Theme::Light, Theme::Dark}) {
    SCOPED_TRACE(to_string(theme).toStdString());
    window.setTheme(theme);
    const std::string suffix = "-" + to_string(theme).toStdString();
    results->tabs()->setCurrentIndex(ResultsPanel::RankingTab);
    QCoreApplication::processEvents();
    expectDrawn(window.grab().toImage(), ("studio-ranking" + suffix).c_str(), 40);

    results->tabs()->setCurrentIndex(ResultsPanel::OpsTab);
    results->selectOp(0);
    QCoreApplication::processEvents();
    expectDrawn(window.grab().toImage(), ("studio-ops" + suffix).c_str(), 40);
    // The timeline: axes, lane labels and bars in several category colours.
    expectDrawn(results->timeline()->grab().toImage(), ("timeline" + suffix).c_str(), 8);

    results->tabs()->setCurrentIndex(ResultsPanel::MemoryTab);
    QCoreApplication::processEvents();
    expectDrawn(results->memoryChart()->grab().toImage(), ("memory" + suffix).c_str(), 8);

    // Compare, with the one profile: its box, point, bar and stacked bar.
    results->tabs()->setCurrentWidget(window.comparePanel());
    QCoreApplication::processEvents();
    expectDrawn(window.comparePanel()->grab().toImage(), ("compare" + suffix).c_str(), 40);
  }
  window.setTheme(Theme::Light);
}
