#pragma once
// Escaping text for each report format, so that names from the project
// (model paths, module and kernel names) can never break a file.
#include <string>
#include <string_view>

namespace mlopt::report {

// & < > " ' as entities: safe in HTML and XML text and attribute values.
// Control characters other than tab and newline become U+FFFD (XML 1.0 forbids them).
std::string escape_xml(std::string_view text);
// For a GitHub Markdown table cell: backslash before \ ` * _ [ ] < > | & ~,
// line breaks become spaces.
std::string escape_markdown(std::string_view text);
// An RFC 4180 field: quoted (with "" for ") when it holds , " CR or LF.
std::string csv_field(std::string_view text);
// Shortest text that reads back as the same double ("0.1", "1e-07", "nan", "inf").
std::string exact_number(double value);

}  // namespace mlopt::report
