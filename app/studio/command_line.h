#pragma once
// mlopt-studio's command line: [MODEL.pt | PROJECT.mlopt] [--input SPEC].
#include <QString>
#include <QStringList>

namespace mlopt::studio {

struct CommandLine {
  QString file;   // a model or a project to open at start; empty: none
  QString input;  // the input spec (several --input joined with ';'); empty: none
  bool help = false;
  bool version = false;
  QString help_text;
  QString error;  // set when the arguments are wrong: print it and exit 2
};

// `arguments` with the program first. Before QApplication exists (argv as
// is) only help and version are to be trusted: Qt's own options (-platform,
// -style, ...) read as errors until QApplication has taken them out of
// QCoreApplication::arguments().
CommandLine parse_command_line(const QStringList& arguments);

}  // namespace mlopt::studio
