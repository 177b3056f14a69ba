#pragma once
// The report's charts as SVG: latency per run (box and whiskers), and for
// each profile the time per category (bars) and memory over the iteration
// (lines). The HTML report inlines them; the PDF renders them with Qt.
#include <string>
#include <vector>

#include "mlopt/report/report.h"

namespace mlopt::report {

struct Chart {
  std::string id;     // "latency", "profile-1-categories", "profile-1-memory"
  std::string title;  // its caption
  std::string svg;
  int width = 0;  // of the SVG's viewport, in CSS pixels
  int height = 0;
};

// `standalone`: a whole SVG document (XML declaration and namespace), for
// SVG renderers; without, an element to inline in HTML5.
std::vector<Chart> latency_charts(const Report& report, bool standalone = false);  // none without runs
std::vector<Chart> profile_charts(const ProfileSection& profile, bool standalone = false);
// All of them, in the order the report shows them.
std::vector<Chart> report_charts(const Report& report, bool standalone = false);

// What HtmlOptions::Charts::ImageLinks puts in <img src="...">.
std::string image_link(const Chart& chart);

}  // namespace mlopt::report
