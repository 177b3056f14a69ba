#include "mlopt/core/input_spec.h"

#include <cctype>
#include <charconv>
#include <sstream>

#include "mlopt/core/error.h"

namespace mlopt {
namespace {

constexpr const char* kSyntax =
    "expected NAME:DTYPE[D0,D1,...] with an optional =LOW..HIGH range, several separated by ';' "
    "(e.g. ids:int64[8,1024] or x:fp16[1,128,768]=-1..1)";

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

[[noreturn]] void fail(std::string_view item, const std::string& why) {
  throw InputSpecError("bad input spec '" + std::string(item) + "': " + why + "; " + kSyntax);
}

bool valid_name(std::string_view name) {
  if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.')) return false;
  }
  return true;
}

double parse_number(std::string_view item, std::string_view text) {
  text = trim(text);
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    fail(item, "'" + std::string(text) + "' is not a number");
  }
  return value;
}

std::vector<int64_t> parse_dims(std::string_view item, std::string_view text) {
  std::vector<int64_t> dims;
  text = trim(text);
  if (text.empty()) return dims;  // "[]": a scalar tensor
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = text.find(',', start);
    const std::string_view part =
        trim(text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    int64_t dim = 0;
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), dim);
    if (part.empty() || ec != std::errc() || ptr != part.data() + part.size() || dim <= 0) {
      fail(item, "dimension '" + std::string(part) + "' is not a positive integer");
    }
    dims.push_back(dim);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return dims;
}

TensorSpec parse_tensor(std::string_view item) {
  TensorSpec spec;
  std::string_view rest = trim(item);
  const std::size_t open = rest.find('[');
  const std::size_t close = rest.find(']');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    fail(item, "missing [shape]");
  }
  std::string_view head = trim(rest.substr(0, open));
  if (const std::size_t colon = head.find(':'); colon != std::string_view::npos) {
    spec.name = std::string(trim(head.substr(0, colon)));
    if (!valid_name(spec.name)) fail(item, "'" + spec.name + "' is not a valid input name");
    head = trim(head.substr(colon + 1));
  }
  if (head.empty()) fail(item, "missing dtype");
  try {
    spec.dtype = parse_dtype(head);
  } catch (const UsageError& e) {
    fail(item, e.what());
  }
  spec.shape = parse_dims(item, rest.substr(open + 1, close - open - 1));

  std::string_view tail = trim(rest.substr(close + 1));
  if (!tail.empty()) {
    if (tail.front() != '=') fail(item, "unexpected '" + std::string(tail) + "' after the shape");
    tail.remove_prefix(1);
    const std::size_t dots = tail.find("..");
    if (dots == std::string_view::npos) fail(item, "a range is written LOW..HIGH");
    spec.low = parse_number(item, tail.substr(0, dots));
    spec.high = parse_number(item, tail.substr(dots + 2));
    if (!(*spec.low < *spec.high)) fail(item, "the range's LOW must be below HIGH");
    if (spec.dtype == DType::Bool && (*spec.low < 0 || *spec.high > 2)) {
      fail(item, "a bool input's range must lie within 0..2");
    }
  }
  return spec;
}

void format_number(std::ostringstream& out, double v) {
  // Integers print without a fraction so that specs round-trip as written.
  if (v == static_cast<double>(static_cast<int64_t>(v))) out << static_cast<int64_t>(v);
  else out << v;
}

}  // namespace

int64_t TensorSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

InputSpec InputSpec::parse(std::string_view text) {
  InputSpec spec;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t semi = text.find(';', start);
    const std::string_view item =
        text.substr(start, semi == std::string_view::npos ? std::string_view::npos : semi - start);
    if (!trim(item).empty()) spec.tensors.push_back(parse_tensor(item));
    if (semi == std::string_view::npos) break;
    start = semi + 1;
  }
  if (spec.tensors.empty()) {
    throw InputSpecError(std::string("empty input spec: ") + kSyntax);
  }
  for (std::size_t i = 0; i < spec.tensors.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (!spec.tensors[i].name.empty() && spec.tensors[i].name == spec.tensors[j].name) {
        throw InputSpecError("input '" + spec.tensors[i].name + "' appears twice in the spec");
      }
    }
  }
  return spec;
}

InputSpec InputSpec::parse_all(const std::vector<std::string>& texts) {
  std::string joined;
  for (const auto& t : texts) joined += t + ";";
  return parse(joined);
}

std::string InputSpec::to_string() const {
  std::ostringstream out;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (i) out << ';';
    if (!t.name.empty()) out << t.name << ':';
    out << mlopt::to_string(t.dtype) << '[';
    for (std::size_t d = 0; d < t.shape.size(); ++d) out << (d ? "," : "") << t.shape[d];
    out << ']';
    if (t.low && t.high) {
      out << '=';
      format_number(out, *t.low);
      out << "..";
      format_number(out, *t.high);
    }
  }
  return out.str();
}

int64_t InputSpec::tokens_per_forward() const {
  for (const auto& t : tensors) {
    if (t.dtype == DType::I64 || t.dtype == DType::I32) return t.numel();
  }
  if (tensors.empty()) return 0;
  const auto& first = tensors.front();
  if (first.shape.size() >= 2) return first.shape[0] * first.shape[1];
  return first.shape.empty() ? 1 : first.shape[0];
}

}  // namespace mlopt
