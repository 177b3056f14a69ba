#include "mlopt/report/format.h"

#include <algorithm>
#include <cctype>

#include "mlopt/core/error.h"
#include "mlopt/report/writers.h"

namespace mlopt::report {
namespace {

std::string lower(std::string_view text) {
  std::string s(text);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

std::string to_string(Format format) {
  switch (format) {
    case Format::Html: return "html";
    case Format::Pdf: return "pdf";
    case Format::Json: return "json";
    case Format::Csv: return "csv";
    case Format::Markdown: return "md";
  }
  return "html";
}

std::string extension(Format format) { return "." + to_string(format); }

Format parse_format(std::string_view text) {
  const std::string s = lower(text);
  if (s == "html" || s == "htm") return Format::Html;
  if (s == "pdf") return Format::Pdf;
  if (s == "json") return Format::Json;
  if (s == "csv") return Format::Csv;
  if (s == "md" || s == "markdown") return Format::Markdown;
  throw UsageError("unknown report format '" + std::string(text) + "': use html, pdf, json, csv or md");
}

std::optional<Format> format_for_file(const std::filesystem::path& file) {
  std::string ext = file.extension().string();
  if (ext.size() < 2) return std::nullopt;
  try {
    return parse_format(std::string_view(ext).substr(1));
  } catch (const UsageError&) {
    return std::nullopt;
  }
}

std::string render(const Report& report, Format format) {
  switch (format) {
    case Format::Html: return to_html(report);
    case Format::Json: return to_json(report);
    case Format::Csv: return to_csv(report);
    case Format::Markdown: return to_markdown(report);
    case Format::Pdf: throw Error(kPdfNeedsQt);
  }
  throw UsageError("unknown report format");
}

}  // namespace mlopt::report
