#pragma once
// The report's writers. Each returns the whole file as a string; callers
// write it atomically (mlopt/core/atomic_file.h). Text from the project
// (model paths, module and kernel names, reasons) is escaped for each
// format, so a name holding < & " | , or a newline cannot break the file.
#include <string>

#include "mlopt/report/report.h"

namespace mlopt::report {

// GitHub-flavoured Markdown: a heading per section, a table per ranking.
std::string to_markdown(const Report& report);

// One tidy table, columns section,name,metric,value,unit (RFC 4180 quoting,
// "\n" line ends); every number at full precision. See report/SCHEMA.md.
std::string to_csv(const Report& report);

// {"format": "mlopt-report", "report_version": 1, ...}: see report/SCHEMA.md.
std::string to_json(const Report& report, int indent = 2);

struct HtmlOptions {
  enum class Charts {
    InlineSvg,   // <svg> in the page: one self-contained file for browsers
    ImageLinks,  // <img src="mlopt-chart:ID"> (charts.h image_link), laid out for
                 // Qt's rich text on A4 pages, which has no SVG: the caller
                 // supplies the images (mlopt/views/report_pdf.h)
  };
  Charts charts = Charts::InlineSvg;
  int max_image_width = 0;  // ImageLinks: wider charts are scaled down to this (CSS pixels); 0: never
};

// One self-contained HTML5 file: inline CSS, inline SVG charts, no scripts
// and no external references.
std::string to_html(const Report& report, const HtmlOptions& options = {});

}  // namespace mlopt::report
