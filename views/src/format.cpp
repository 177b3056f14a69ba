#include "format.h"

#include "mlopt/core/units.h"

namespace mlopt::views::detail {

QString human_count(int64_t n) { return QString::fromStdString(mlopt::human_count(n)); }
QString human_bytes(int64_t n) { return QString::fromStdString(mlopt::human_bytes(n)); }
QString percent(double percent) { return QString::fromStdString(mlopt::fixed(percent, 1)) + QLatin1Char('%'); }
QString fixed(double value, int decimals) { return QString::fromStdString(mlopt::fixed(value, decimals)); }
QString milliseconds(double us) { return fixed(us / 1e3, 3); }

QString shape(const std::vector<int64_t>& dims) {
  QString s = QStringLiteral("[");
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i) s += QStringLiteral(", ");
    s += QString::number(dims[i]);
  }
  return s + QLatin1Char(']');
}

}  // namespace mlopt::views::detail
