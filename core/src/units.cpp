#include "mlopt/core/units.h"

#include <charconv>

namespace mlopt {

std::string fixed(double value, int decimals) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed, decimals);
  return std::string(buf, r.ptr);
}

std::string human_count(int64_t n) {
  const double v = static_cast<double>(n);
  if (n >= 1'000'000'000) return fixed(v / 1e9, 2) + "B";
  if (n >= 1'000'000) return fixed(v / 1e6, 2) + "M";
  // Below 10k the exact count is short enough and more useful.
  if (n >= 10'000) return fixed(v / 1e3, 1) + "k";
  return std::to_string(n);
}

std::string human_bytes(int64_t n) {
  const double v = static_cast<double>(n);
  if (n >= 1'000'000'000) return fixed(v / 1e9, 2) + " GB";
  if (n >= 1'000'000) return fixed(v / 1e6, 1) + " MB";
  if (n >= 1'000) return fixed(v / 1e3, 1) + " kB";
  return std::to_string(n) + " B";
}

}  // namespace mlopt
