// What the workbench remembers between sessions (QSettings): the theme,
// the recent files, the window's size; and what the themes change.
#include <gtest/gtest.h>

#include <QAction>
#include <QApplication>
#include <QMenu>

#include "mlopt/views/main_window.h"
#include "mlopt/views/theme.h"
#include "studio_test_support.h"

using namespace mlopt::views;
using mlopt::test::ensure_studio;
using mlopt::test::fresh_model;
using mlopt::test::qpath;
using mlopt::test::quick_options;

TEST(StudioSettings, ThemeIsAppliedAndRemembered) {
  ensure_studio();
  {
    MainWindow window(quick_options());
    window.findChild<QAction*>(QStringLiteral("actionThemeDark"))->trigger();
    EXPECT_EQ(window.theme(), Theme::Dark);
    EXPECT_LT(QApplication::palette().color(QPalette::Window).lightness(), 100);
    EXPECT_GT(QApplication::palette().color(QPalette::Text).lightness(), 200);
  }
  {
    MainWindow window(quick_options());
    EXPECT_EQ(window.theme(), Theme::Dark);
    EXPECT_TRUE(window.findChild<QAction*>(QStringLiteral("actionThemeDark"))->isChecked());
    window.findChild<QAction*>(QStringLiteral("actionThemeLight"))->trigger();
    EXPECT_GT(QApplication::palette().color(QPalette::Window).lightness(), 150);
  }
  MainWindow window(quick_options());
  EXPECT_EQ(window.theme(), Theme::Light);
  EXPECT_EQ(theme_from_string("dark"), Theme::Dark);
  EXPECT_EQ(theme_from_string("DARK"), Theme::Dark);
  EXPECT_EQ(theme_from_string("something"), Theme::Light);
  EXPECT_EQ(to_string(Theme::Dark), "dark");
}

TEST(StudioSettings, RecentFilesAndWindowSizeAreRemembered) {
  ensure_studio();
  const auto model = fresh_model("recent");
  {
    MainWindow window(quick_options());
    window.show();
    window.resize(1111, 777);
    ASSERT_TRUE(window.openFile(qpath(model)));
    // The load runs in the background; closing waits for it.
    EXPECT_TRUE(window.close());
  }
  MainWindow window(quick_options());
  EXPECT_EQ(window.recentFiles().value(0), qpath(model));
  auto* recent = window.findChild<QMenu*>(QStringLiteral("menuRecent"));
  ASSERT_NE(recent, nullptr);
  ASSERT_FALSE(recent->actions().isEmpty());
  EXPECT_TRUE(recent->actions().front()->text().contains("tiny-gpt2.pt"));
  EXPECT_EQ(recent->actions().front()->toolTip(), qpath(model));
  EXPECT_EQ(window.size(), QSize(1111, 777));
}
