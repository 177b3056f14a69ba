#pragma once
// Human-readable numbers, spelled alike in the CLI, the GUI and reports.
// Locale-independent (std::to_chars): a Qt app sets the C locale from the
// environment, and "1,5 MB" must not appear in one place and "1.5 MB" in another.
#include <cstdint>
#include <string>

namespace mlopt {

std::string fixed(double value, int decimals);  // 3.142
std::string human_count(int64_t n);             // 124.44M, 38.6k, 512 (exact below 10k)
std::string human_bytes(int64_t n);             // 497.8 MB, 6.1 kB, 12 B (decimal units)

}  // namespace mlopt
