#pragma once
// Text formatting for the CLI's tables.
#include <cstdint>
#include <string>
#include <vector>

#include "mlopt/core/units.h"

namespace mlopt::cli {

using mlopt::fixed;
using mlopt::human_bytes;
using mlopt::human_count;
std::string shape_string(const std::vector<int64_t>& shape);  // [8,1024,50257]

// A text table; columns after the first whose cells are all numbers are
// right-aligned when `right_align_numbers`.
std::string table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                  bool right_align_numbers = true);

}  // namespace mlopt::cli
