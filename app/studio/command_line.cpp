#include "command_line.h"

#include <QCommandLineParser>
#include <QFileInfo>

namespace mlopt::studio {

CommandLine parse_command_line(const QStringList& arguments) {
  QCommandLineParser parser;
  parser.setApplicationDescription(QStringLiteral(
      "mlopt studio: open a TorchScript model or an mlopt project, profile it and see where the time goes."));
  const QCommandLineOption help = parser.addHelpOption();
  const QCommandLineOption version = parser.addVersionOption();
  const QCommandLineOption input(QStringList{QStringLiteral("i"), QStringLiteral("input")},
                                 QStringLiteral("Input spec, e.g. ids:int64[1,128] (repeat or use ';' for several)."),
                                 QStringLiteral("SPEC"));
  parser.addOption(input);
  parser.addPositionalArgument(QStringLiteral("file"), QStringLiteral("A model (.pt) or a project (.mlopt) to open."),
                               QStringLiteral("[MODEL.pt|PROJECT.mlopt]"));

  CommandLine out;
  // Without a QCoreApplication yet, Qt names the program "<executable_name>".
  out.help_text = parser.helpText().replace(QStringLiteral("<executable_name>"), QStringLiteral("mlopt-studio"));
  const bool parsed = parser.parse(arguments);
  // Known even when other arguments are wrong (or are Qt's own, which only
  // QApplication knows): --help and --version need no display.
  out.help = parser.isSet(help) || parser.isSet(QStringLiteral("help-all"));
  out.version = parser.isSet(version);
  if (!parsed) {
    out.error = parser.errorText();
    return out;
  }
  const QStringList files = parser.positionalArguments();
  if (files.size() > 1) {
    out.error = QStringLiteral("one file at most (a model or a project), got %1: %2")
                    .arg(files.size())
                    .arg(files.join(QStringLiteral(", ")));
    return out;
  }
  if (!files.isEmpty()) {
    out.file = files.front();
    if (!QFileInfo(out.file).isFile()) {
      out.error = QStringLiteral("'%1' is not a file (expected a model .pt or a project .mlopt)").arg(out.file);
      return out;
    }
  }
  out.input = parser.values(input).join(QStringLiteral("; "));
  return out;
}

}  // namespace mlopt::studio
