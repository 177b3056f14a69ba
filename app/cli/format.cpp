#include "format.h"

#include <algorithm>
#include <sstream>

namespace mlopt::cli {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

namespace {

// A column reads as numbers when every cell starts with a digit (counts,
// times, "1.2 MB"); those are right-aligned so that magnitudes line up.
bool numeric_column(const std::vector<std::vector<std::string>>& rows, std::size_t c) {
  bool any = false;
  for (const auto& r : rows) {
    if (c >= r.size() || r[c].empty()) continue;
    const char first = r[c][0] == '-' && r[c].size() > 1 ? r[c][1] : r[c][0];
    if (first < '0' || first > '9') return false;
    any = true;
  }
  return any;
}

}  // namespace

std::string table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                  bool right_align_numbers) {
  std::vector<std::size_t> width(header.size(), 0);
  std::vector<bool> right(header.size(), false);
  for (std::size_t c = 1; c < header.size(); ++c) right[c] = right_align_numbers && numeric_column(rows, c);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], row[c].size());
  };
  measure(header);
  for (const auto& r : rows) measure(r);
  std::ostringstream out;
  auto line = [&](const std::vector<std::string>& row) {
    std::string text;
    for (std::size_t c = 0; c < width.size(); ++c) {
      const std::string cell = c < row.size() ? row[c] : "";
      const std::string pad(width[c] - cell.size(), ' ');
      text += (c ? "  " : "") + (right[c] ? pad + cell : cell + pad);
    }
    out << text.substr(0, text.find_last_not_of(' ') + 1) << '\n';
  };
  line(header);
  std::size_t total = 0;
  for (auto w : width) total += w + 2;
  out << std::string(total > 2 ? total - 2 : 0, '-') << '\n';
  for (const auto& r : rows) line(r);
  return out.str();
}

}  // namespace mlopt::cli
