#include "format.h"

#include "mlopt/core/units.h"

namespace mlopt::views::detail {

QString human_count(int64_t n) { return QString::fromStdString(mlopt::human_count(n)); }
QString human_bytes(int64_t n) { return QString::fromStdString(mlopt::human_bytes(n)); }
QString percent(double percent) { return QString::fromStdString(mlopt::fixed(percent, 1)) + QLatin1Char('%'); }

}  // namespace mlopt::views::detail
