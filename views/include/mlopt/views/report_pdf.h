#pragma once
// Reports as PDF, through Qt: the HTML report laid out by Qt's rich text
// (QTextDocument), its SVG charts drawn by QtSvg, printed by QPdfWriter on
// A4 pages with page numbers. Needs only QtGui and QtSvg, not widgets: the
// mlopt CLI links it (as mlopt::report_pdf) where mlopt is built with Qt.
//
// Qt needs a QGuiApplication to lay out text. Where there is none (the CLI)
// one is made for the call on the offscreen platform, so no display is
// needed; where a QCoreApplication without a GUI exists, mlopt::Error.
#include <string>

#include "mlopt/report/format.h"
#include "mlopt/report/report.h"

namespace mlopt::views {

// The whole PDF file. Throws mlopt::Error when a chart cannot be drawn or
// Qt's PDF writer produces nothing.
std::string render_report_pdf(const report::Report& report);

// The report in any format, PDF included: what the studio's File › Export
// report and, in builds with Qt, `mlopt report` write.
std::string render_report(const report::Report& report, report::Format format);

}  // namespace mlopt::views
