#pragma once
// Memory over the last profiled iteration: tensors allocated and, on a GPU,
// what the caching allocator holds, with the profile's peak marked. The
// mouse wheel zooms and dragging pans the time axis.
#include <qcustomplot.h>

#include "mlopt/profiler/profile_result.h"

namespace mlopt::views {

class MemoryChart : public QCustomPlot {
  Q_OBJECT

 public:
  explicit MemoryChart(QWidget* parent = nullptr);

  void setProfile(const profiler::ProfileResult& profile);
  void clear();

  // Samples plotted (the allocated curve's points).
  int sampleCount() const;
  // Whether the reserved curve is shown (only when it differs from allocated).
  bool showsReserved() const;

 public slots:
  void resetZoom();

 protected:
  void changeEvent(QEvent* event) override;

 private:
  void restyle();

  QCPGraph* allocated_;
  QCPGraph* reserved_;
  QCPItemStraightLine* peak_line_;
  QCPItemText* peak_label_;
  double end_ms_ = 1;
  double top_mb_ = 1;
};

}  // namespace mlopt::views
