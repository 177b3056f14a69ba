#pragma once
// Reading the reports back, as a user's tools would: Markdown tables, CSV
// (RFC 4180) and a well-formedness check of HTML and SVG markup.
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace mlopt::test {

struct MdTable {
  std::string heading;  // the last heading line above it, without the #s
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

// Cells of one table row, split at unescaped pipes and unescaped.
inline std::vector<std::string> markdown_cells(std::string_view line) {
  std::vector<std::string> cells;
  std::string cell;
  bool open = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '\\' && i + 1 < line.size()) {
      cell += line[++i];
    } else if (c == '|') {
      if (open) cells.push_back(cell.size() >= 2 ? cell.substr(1, cell.size() - 2) : "");  // the padding spaces
      cell.clear();
      open = true;
    } else {
      cell += c;
    }
  }
  return cells;
}

inline std::vector<MdTable> markdown_tables(const std::string& md) {
  std::vector<MdTable> tables;
  std::string heading;
  bool in_table = false;
  std::size_t pos = 0;
  while (pos < md.size()) {
    const std::size_t end = std::min(md.find('\n', pos), md.size());
    const std::string line = md.substr(pos, end - pos);
    pos = end + 1;
    if (line.rfind("#", 0) == 0) {
      heading = line.substr(line.find_first_not_of('#'));
      if (!heading.empty() && heading[0] == ' ') heading.erase(0, 1);
      in_table = false;
    } else if (line.rfind("|", 0) == 0) {
      if (!in_table) {
        tables.push_back({heading, markdown_cells(line), {}});
        in_table = true;
      } else if (line.rfind("|---", 0) != 0) {
        tables.back().rows.push_back(markdown_cells(line));
      }
    } else {
      in_table = false;
    }
  }
  return tables;
}

inline const MdTable* find_table(const std::vector<MdTable>& tables, const std::string& heading, int nth = 0) {
  for (const auto& t : tables) {
    if (t.heading == heading && nth-- == 0) return &t;
  }
  return nullptr;
}

// RFC 4180: fields separated by commas, quoted when they hold , " or line breaks.
inline std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, field_started = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"' && !field_started) {
      quoted = field_started = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
      field_started = false;
    } else if (c == '\n') {
      row.push_back(field);
      rows.push_back(row);
      row.clear();
      field.clear();
      field_started = false;
    } else {
      field += c;
      field_started = true;
    }
  }
  if (field_started || !row.empty()) {
    row.push_back(field);
    rows.push_back(row);
  }
  return rows;
}

// "" when `markup` is well-formed: every tag closed in order, attribute
// values quoted, no raw < or & in text or attributes. With `html`, void
// elements (meta, img, br, ...) need no closing and <style> is raw text.
inline std::string check_markup(std::string_view s, bool html) {
  static const std::vector<std::string> kVoid = {"meta", "img", "br", "hr", "link", "input", "col"};
  auto is_name = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == ':' || c == '_'; };
  auto check_entity = [&](std::size_t at) -> std::string {
    const std::size_t semi = s.find(';', at);
    if (semi == std::string_view::npos || semi - at > 8) return "bare & at " + std::to_string(at);
    const std::string_view e = s.substr(at, semi - at + 1);
    if (e == "&amp;" || e == "&lt;" || e == "&gt;" || e == "&quot;" || e == "&#39;" || e == "&apos;") return "";
    if (e.size() > 3 && e[1] == '#') return "";
    return "unknown entity " + std::string(e);
  };
  std::vector<std::string> open;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '&') {
      if (auto e = check_entity(i); !e.empty()) return e;
      ++i;
      continue;
    }
    if (c != '<') {
      ++i;
      continue;
    }
    if (s.substr(i, 4) == "<!--" || s.substr(i, 2) == "<!" || s.substr(i, 2) == "<?") {
      const std::size_t end = s.find('>', i);
      if (end == std::string_view::npos) return "unclosed declaration at " + std::to_string(i);
      i = end + 1;
      continue;
    }
    const bool closing = i + 1 < s.size() && s[i + 1] == '/';
    std::size_t j = i + (closing ? 2 : 1);
    const std::size_t name_start = j;
    while (j < s.size() && is_name(s[j])) ++j;
    const std::string name(s.substr(name_start, j - name_start));
    if (name.empty()) return "raw < at " + std::to_string(i);
    bool self_closed = false;
    while (true) {
      while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j]))) ++j;
      if (j >= s.size()) return "unterminated tag " + name;
      if (s[j] == '>') break;
      if (s.substr(j, 2) == "/>") {
        self_closed = true;
        ++j;
        break;
      }
      if (closing) return "attribute in closing tag " + name;
      const std::size_t attr = j;
      while (j < s.size() && is_name(s[j])) ++j;
      if (j == attr) return "bad attribute in " + name + " at " + std::to_string(j);
      if (j >= s.size() || s[j] != '=') return "attribute without value in " + name;
      if (++j >= s.size() || s[j] != '"') return "unquoted attribute in " + name;
      const std::size_t value_end = s.find('"', j + 1);
      if (value_end == std::string_view::npos) return "unterminated attribute in " + name;
      for (std::size_t k = j + 1; k < value_end; ++k) {
        if (s[k] == '<') return "raw < in an attribute of " + name;
        if (s[k] == '&') {
          if (auto e = check_entity(k); !e.empty()) return e;
        }
      }
      j = value_end + 1;
    }
    i = j + 1;
    if (closing) {
      if (open.empty() || open.back() != name) {
        return "</" + name + "> closes " + (open.empty() ? std::string("nothing") : "<" + open.back() + ">");
      }
      open.pop_back();
    } else if (!self_closed && !(html && std::find(kVoid.begin(), kVoid.end(), name) != kVoid.end())) {
      open.push_back(name);
      if (html && name == "style") {
        const std::size_t end = s.find("</style>", i);
        if (end == std::string_view::npos) return "unclosed <style>";
        i = end;
      }
    }
  }
  return open.empty() ? "" : "unclosed <" + open.back() + ">";
}

// The <svg>...</svg> elements of an HTML page.
inline std::vector<std::string> svg_elements(const std::string& html) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while ((pos = html.find("<svg", pos)) != std::string::npos) {
    const std::size_t end = html.find("</svg>", pos);
    if (end == std::string::npos) break;
    out.push_back(html.substr(pos, end + 6 - pos));
    pos = end;
  }
  return out;
}

inline std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + what.size())) ++n;
  return n;
}

}  // namespace mlopt::test
