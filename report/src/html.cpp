// The HTML report: one self-contained file (inline CSS, inline SVG charts,
// no scripts, no external references) that prints well to PDF from a browser.
#include "mlopt/report/charts.h"
#include "mlopt/report/escape.h"
#include "mlopt/report/writers.h"
#include "sections.h"

namespace mlopt::report {
namespace {

// Also read by Qt's rich text for the PDF, which knows a subset of CSS 2.1:
// the table attributes in table() below say the same for it.
constexpr const char* kStyle = R"css(
body { font-family: "Segoe UI", "Helvetica Neue", Arial, sans-serif; color: #222; background: #fff;
       padding: 0.5em 1em; line-height: 1.4; font-size: 10.5pt; }
h1 { font-size: 18pt; margin-bottom: 0.2em; }
h2 { font-size: 14pt; margin-top: 1.8em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
h3 { font-size: 11.5pt; margin-top: 1.4em; }
p.meta, p.note, p.empty { color: #555; }
p.empty { font-style: italic; }
table { border-collapse: collapse; margin: 0.4em 0 1.2em 0; font-size: 9.5pt; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.n, th.n { text-align: right; }
td.long { word-break: break-all; }
table.facts th { background: none; font-weight: bold; white-space: nowrap; }
div.chart { margin: 0.6em 0 1.2em 0; line-height: 100%; }
div.chart svg { max-width: 100%; height: auto; }
)css";
// For browsers only: Qt's rich text reads an "auto" margin on the body as
// centring every table at its narrowest.
constexpr const char* kBrowserStyle = R"css(body { max-width: 1100px; margin: 1em auto; }
@media print {
  body { max-width: none; margin: 0; }
  table, div.chart { page-break-inside: avoid; }
}
)css";
// For Qt's rich text on an A4 page: ten columns of ops must fit 17 cm.
// Each profile starts a page.
constexpr const char* kPageStyle = "th, td { font-size: 8pt; }\nh2.profile { page-break-before: always; }\n";

std::string cell_tag(const char* tag, const std::string& text, bool numeric, bool long_name, int width = 0) {
  std::string open = std::string("<") + tag;
  if (width > 0) open += " width=\"" + std::to_string(width) + "%\"";
  if (numeric) open += " class=\"n\" align=\"right\"";
  else if (long_name) open += " class=\"long\"";
  return open + ">" + escape_xml(text) + "</" + tag + ">";
}

void facts(std::string& out, const detail::Facts& f) {
  out += "<table class=\"facts\" border=\"1\" cellspacing=\"0\" cellpadding=\"3\">\n";
  for (const auto& [key, value] : f) {
    out += "<tr><th>" + escape_xml(key) + "</th><td>" + escape_xml(value) + "</td></tr>\n";
  }
  out += "</table>\n";
}

void table(std::string& out, const detail::Table& t, const char* heading, const std::string& anchor) {
  out += std::string("<") + heading + " id=\"" + escape_xml(anchor) + "\">" + escape_xml(t.title) + "</" + heading +
         ">\n";
  if (t.rows.empty()) {
    out += "<p class=\"empty\">" + escape_xml(t.empty) + "</p>\n";
    return;
  }
  if (!t.note.empty()) out += "<p class=\"note\">" + escape_xml(t.note) + "</p>\n";
  // Full width: Qt's rich text otherwise squeezes every column to its narrowest.
  out += "<table width=\"100%\" border=\"1\" cellspacing=\"0\" cellpadding=\"3\">\n<thead><tr>";
  for (const auto& c : t.columns) out += cell_tag("th", c.name, c.numeric, false, c.width);
  out += "</tr></thead>\n<tbody>\n";
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    const auto& row = t.rows[r];
    const std::string title = r < t.row_titles.size() ? t.row_titles[r] : "";
    out += title.empty() ? "<tr>" : "<tr title=\"" + escape_xml(title) + "\">";
    for (std::size_t c = 0; c < row.size(); ++c) {
      out += cell_tag("td", row[c], c < t.columns.size() && t.columns[c].numeric, t.long_names);
    }
    out += "</tr>\n";
  }
  out += "</tbody>\n</table>\n";
}

void figure(std::string& out, const Chart& chart, const HtmlOptions& options) {
  // Not <figure>: Qt's rich text (the PDF) does not know it and lays out
  // large gaps around it.
  out += "<div class=\"chart\" id=\"chart-" + escape_xml(chart.id) + "\">\n";
  if (options.charts == HtmlOptions::Charts::InlineSvg) {
    out += chart.svg;
  } else {
    // Scaled down to fit, keeping the aspect ratio.
    int width = chart.width, height = chart.height;
    if (options.max_image_width > 0 && width > options.max_image_width) {
      height = height * options.max_image_width / width;
      width = options.max_image_width;
    }
    out += "<img src=\"" + escape_xml(image_link(chart)) + "\" width=\"" + std::to_string(width) + "\" height=\"" +
           std::to_string(height) + "\" alt=\"" + escape_xml(chart.title) + "\">\n";
  }
  // No caption: the chart's own title names it (a caption could also land
  // alone on the next page of a PDF).
  out += "</div>\n";
}

}  // namespace

std::string to_html(const Report& r, const HtmlOptions& options) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"generator\" content=\"mlopt " + escape_xml(r.mlopt_version) + "\">\n"
      "<title>" + escape_xml(r.title) + "</title>\n<style>" + kStyle +
      (options.charts == HtmlOptions::Charts::InlineSvg ? kBrowserStyle : kPageStyle) + "</style>\n</head>\n<body>\n";
  out += "<h1>" + escape_xml(r.title) + "</h1>\n<p class=\"meta\">" + escape_xml(detail::generated_line(r)) + "</p>\n";
  facts(out, detail::project_facts(r));

  out += "<h2 id=\"latency\">" + escape_xml(detail::latency_title()) + "</h2>\n";
  if (r.runs.empty()) out += "<p class=\"empty\">" + escape_xml(detail::runs_missing_text()) + "</p>\n";
  for (const auto& t : detail::runs_tables(r)) table(out, t, "h3", t.id);
  for (const auto& chart : latency_charts(r)) figure(out, chart, options);

  if (const auto tables = detail::optimization_tables(r); !tables.empty()) {
    out += "<h2 id=\"optimizations\">" + escape_xml(detail::optimizations_title()) + "</h2>\n";
    for (const auto& t : tables) table(out, t, "h3", t.id);
  }

  if (r.profiles.empty()) {
    out += "<h2 id=\"profiles\">Profiles</h2>\n<p class=\"empty\">" + escape_xml(detail::profiles_missing_text()) +
           "</p>\n";
  }
  for (const auto& p : r.profiles) {
    std::string id = p.label;
    for (auto& c : id) c = c == ' ' ? '-' : c;
    out += "<h2 class=\"profile\" id=\"" + escape_xml(id) + "\">" + escape_xml(detail::profile_heading(p)) +
           "</h2>\n";
    facts(out, detail::profile_facts(p));
    const auto charts = profile_charts(p);
    const auto tables = detail::profile_tables(p);
    // The category chart beside its table, the memory chart last.
    for (std::size_t i = 0; i < tables.size(); ++i) {
      table(out, tables[i], "h3", id + "-" + tables[i].id);
      if (i == 0) {
        for (const auto& c : charts) {
          if (c.id == id + "-categories") figure(out, c, options);
        }
      }
    }
    for (const auto& c : charts) {
      if (c.id == id + "-memory") figure(out, c, options);
    }
  }
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace mlopt::report
