// mlopt-studio [MODEL.pt | PROJECT.mlopt] [--input SPEC]: the workbench.
#include <QApplication>
#include <QIcon>

#include <cstdio>

#include "command_line.h"
#include "devices.h"
#include "mlopt/views/main_window.h"

int main(int argc, char** argv) {
  // --help and --version first: they need no display.
  QStringList raw;
  for (int i = 0; i < argc; ++i) raw << QString::fromLocal8Bit(argv[i]);
  const auto early = mlopt::studio::parse_command_line(raw);
  if (early.help) {
    std::fputs(qPrintable(early.help_text), stdout);
    return 0;
  }
  if (early.version) {
    std::printf("mlopt-studio %s\n", MLOPT_VERSION);
    return 0;
  }

  // Fractional scale factors (125%, 150%) as they are, not rounded: crisp
  // text and charts on HiDPI screens.
  QGuiApplication::setHighDpiScaleFactorRoundingPolicy(Qt::HighDpiScaleFactorRoundingPolicy::PassThrough);
  QApplication app(argc, argv);
  QCoreApplication::setOrganizationName(QStringLiteral("mlopt"));
  QCoreApplication::setApplicationName(QStringLiteral("mlopt-studio"));
  QCoreApplication::setApplicationVersion(QStringLiteral(MLOPT_VERSION));
  QGuiApplication::setApplicationDisplayName(QStringLiteral("mlopt studio"));
  QGuiApplication::setWindowIcon(QIcon(QStringLiteral(":/icons/mlopt.svg")));

  // The rest once QApplication has taken its own options (-platform, ...) out.
  const auto command_line = mlopt::studio::parse_command_line(QCoreApplication::arguments());
  if (!command_line.error.isEmpty()) {
    std::fprintf(stderr, "mlopt-studio: error: %s\n\n%s", qPrintable(command_line.error),
                 qPrintable(command_line.help_text));
    return 2;
  }

  mlopt::views::MainWindowOptions options;
  options.devices = mlopt::studio::available_devices();
  mlopt::views::MainWindow window(options);
  window.show();
  if (!command_line.input.isEmpty()) window.setInputSpec(command_line.input);
  if (!command_line.file.isEmpty()) window.openFile(command_line.file);
  return QApplication::exec();
}
