// The Markdown report: GitHub-flavoured tables under a heading per section.
#include "mlopt/report/escape.h"
#include "mlopt/report/writers.h"
#include "sections.h"

namespace mlopt::report {
namespace {

std::string cell(const std::string& text) { return escape_markdown(text); }

void facts(std::string& out, const detail::Facts& f) {
  out += "| | |\n|---|---|\n";
  for (const auto& [key, value] : f) out += "| " + cell(key) + " | " + cell(value) + " |\n";
  out += "\n";
}

void table(std::string& out, const detail::Table& t, const std::string& heading) {
  out += heading + " " + escape_markdown(t.title) + "\n\n";
  if (t.rows.empty()) {
    out += "_" + escape_markdown(t.empty) + "_\n\n";
    return;
  }
  if (!t.note.empty()) out += escape_markdown(t.note) + "\n\n";
  out += "|";
  for (const auto& c : t.columns) out += " " + cell(c.name) + " |";
  out += "\n|";
  for (const auto& c : t.columns) out += c.numeric ? "---:|" : "---|";
  out += "\n";
  for (const auto& row : t.rows) {
    out += "|";
    for (const auto& v : row) out += " " + cell(v) + " |";
    out += "\n";
  }
  out += "\n";
}

}  // namespace

std::string to_markdown(const Report& r) {
  std::string out = "# " + escape_markdown(r.title) + "\n\n" + escape_markdown(detail::generated_line(r)) + "\n\n";
  facts(out, detail::project_facts(r));
  out += "## " + escape_markdown(detail::latency_title()) + "\n\n";
  if (r.runs.empty()) out += "_" + escape_markdown(detail::runs_missing_text()) + "_\n\n";
  for (const auto& t : detail::runs_tables(r)) table(out, t, "###");
  if (const auto tables = detail::optimization_tables(r); !tables.empty()) {
    out += "## " + escape_markdown(detail::optimizations_title()) + "\n\n";
    for (const auto& t : tables) table(out, t, "###");
  }
  if (r.profiles.empty()) {
    out += "## Profiles\n\n_" + escape_markdown(detail::profiles_missing_text()) + "_\n";
  }
  for (const auto& p : r.profiles) {
    out += "## " + escape_markdown(detail::profile_heading(p)) + "\n\n";
    facts(out, detail::profile_facts(p));
    for (const auto& t : detail::profile_tables(p)) table(out, t, "###");
  }
  while (out.size() > 1 && out[out.size() - 1] == '\n' && out[out.size() - 2] == '\n') out.pop_back();
  return out;
}

}  // namespace mlopt::report
