#pragma once
// Shared by the views' tests: one QApplication per test binary (offscreen
// unless QT_QPA_PLATFORM says otherwise, so a plain `ctest` works without a
// display), a fixture that fails a test on any Qt warning (which is how
// QAbstractItemModelTester in Warning mode reports), and readable QStrings
// in GoogleTest messages.
#include <gtest/gtest.h>

#include <QApplication>
#include <QString>
#include <QStringList>

#include <ostream>

namespace mlopt::test {

// Made on first use: gtest_main owns main(), and widgets need a GUI
// application. Never deleted: tearing Qt down during static destruction is
// unsafe, and the process ends anyway.
inline void ensure_app() {
  if (QCoreApplication::instance()) return;
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
  static int argc = 1;
  static char name[] = "mlopt_views_tests";
  static char* argv[] = {name, nullptr};
  new QApplication(argc, argv);
}

// Every warning logged while a test runs, QAbstractItemModelTester's
// (FailureReportingMode::Warning, category qt.modeltest) included, fails it:
// Warning mode lets GoogleTest report the problem instead of qFatal aborting.
class QtWarningsFail : public ::testing::Test {
 protected:
  void SetUp() override {
    ensure_app();
    warnings().clear();
    previous_ = qInstallMessageHandler(&collect);
  }
  void TearDown() override {
    qInstallMessageHandler(previous_);
    EXPECT_TRUE(warnings().isEmpty()) << warnings().join(QLatin1Char('\n')).toStdString();
  }

 private:
  static QStringList& warnings() {
    static QStringList list;
    return list;
  }
  static void collect(QtMsgType type, const QMessageLogContext& context, const QString& message) {
    if (type == QtWarningMsg || type == QtCriticalMsg) {
      warnings() << QStringLiteral("[%1] %2").arg(QLatin1String(context.category ? context.category : ""), message);
    }
  }
  QtMessageHandler previous_ = nullptr;
};

}  // namespace mlopt::test

// GoogleTest prints QStrings in failure messages as text, not bytes. In
// QString's namespace so that argument-dependent lookup finds it.
QT_BEGIN_NAMESPACE
inline void PrintTo(const QString& s, std::ostream* os) { *os << '"' << s.toStdString() << '"'; }
QT_END_NAMESPACE
