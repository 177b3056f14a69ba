#pragma once
// What the Markdown and HTML reports say, as text and tables before any
// escaping or markup: both formats render these, so they never disagree.
#include <string>
#include <utility>
#include <vector>

#include "mlopt/report/report.h"

namespace mlopt::report::detail {

struct Column {
  std::string name;
  bool numeric = false;  // right-aligned
  // A share of the table's width in percent (a table's add up to 100):
  // without them Qt's rich text gives every column the same width.
  int width = 0;
};

struct Table {
  std::string id;     // "categories", "modules", "ops", ...: an anchor in HTML
  std::string title;  // its heading
  std::string note;   // a sentence under the heading; may be empty
  std::vector<Column> columns;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row_titles;  // per row, empty or the whole text of a shortened cell (an HTML tooltip)
  std::string empty;        // said instead of the table when there are no rows
  bool long_names = false;  // cells may hold very long names (kernels): let them wrap anywhere
};

using Facts = std::vector<std::pair<std::string, std::string>>;

std::string generated_line(const Report& report);
Facts project_facts(const Report& report);

std::string latency_title();
std::string runs_missing_text();
// What ran (device, inputs, throughput), then the latency statistics: two
// narrow tables rather than one too wide for a page. Empty without runs.
std::vector<Table> runs_tables(const Report& report);

// A run as tables and charts name it: "run 2 [flash_attention+fused_mlp]".
std::string run_name(const LatencyRun& run);

std::string optimizations_title();
// Per transform: kept or not, matches, what was left alone, verification;
// then every block left alone with the reason. Empty without optimizations.
std::vector<Table> optimization_tables(const Report& report);

std::string profiles_missing_text();
std::string profile_heading(const ProfileSection& profile);
Facts profile_facts(const ProfileSection& profile);
// A kernel's name as tables show it: no leading "void ", and templated
// names (PyTorch's run past 1000 characters) cut to `max_chars` with an
// ellipsis. The JSON and CSV keep the whole name.
std::string short_kernel_name(const std::string& name, std::size_t max_chars = 100);

// Categories, modules, ops, kernels and recommendations, in that order.
std::vector<Table> profile_tables(const ProfileSection& profile);

}  // namespace mlopt::report::detail
