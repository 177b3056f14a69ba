#pragma once
// Human-readable numbers for the views: core's spelling (mlopt/core/units.h)
// as QStrings, so a number reads alike in a terminal and in the GUI.
#include <QString>

#include <cstdint>
#include <vector>

namespace mlopt::views::detail {

QString human_count(int64_t n);   // 124.44M, 38.6k, 512
QString human_bytes(int64_t n);   // 497.8 MB, 6.1 kB, 12 B (decimal units)
QString percent(double percent);  // 31.0%
QString fixed(double value, int decimals);  // 3.142, never with locale grouping
QString milliseconds(double us);  // 1.234 (µs in, ms out, three decimals)
QString shape(const std::vector<int64_t>& dims);  // [1, 128, 768]

}  // namespace mlopt::views::detail
