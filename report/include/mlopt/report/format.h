#pragma once
// The formats a report is written in, and the one entry point that writes
// any of them but PDF (which needs Qt: mlopt/views/report_pdf.h).
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "mlopt/report/report.h"

namespace mlopt::report {

enum class Format { Html, Pdf, Json, Csv, Markdown };

// What a build without Qt says when asked for a PDF.
inline constexpr const char* kPdfNeedsQt =
    "PDF export needs mlopt built with Qt 6 (MLOPT_BUILD_GUI=ON); use --format html and print it to PDF from a "
    "browser";

std::string to_string(Format format);  // "html", "pdf", "json", "csv", "md"
std::string extension(Format format);  // ".html", ".pdf", ".json", ".csv", ".md"
// "html", "pdf", "json", "csv", "md" (also "htm", "markdown"), any case.
// Throws UsageError naming the accepted set.
Format parse_format(std::string_view text);
// By the file's extension (.html/.htm, .pdf, .json, .csv, .md/.markdown);
// nullopt for any other.
std::optional<Format> format_for_file(const std::filesystem::path& file);

// The report in `format`, as the file's whole contents. Throws
// mlopt::Error(kPdfNeedsQt) for Format::Pdf: the caller renders PDF with Qt.
std::string render(const Report& report, Format format);

}  // namespace mlopt::report
