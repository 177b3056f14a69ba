#include "mlopt/report/charts.h"
#include "sections.h"

#include <algorithm>
#include <map>

#include "mlopt/core/units.h"
#include "mlopt/profiler/profile_result.h"
#include "mlopt/report/svg_chart.h"

namespace mlopt::report {
namespace {

// The workbench's category colours (views/src/chart_style.cpp): a category
// looks the same in the studio and in its reports.
std::string category_color(const std::string& category) {
  static const std::map<std::string, std::string> colors = {
      {profiler::kAttention, "#4e79a7"},   {profiler::kMlp, "#f28e2b"},       {profiler::kNorm, "#59a14f"},
      {profiler::kElementwise, "#b07aa1"}, {profiler::kEmbedding, "#9c755f"}, {profiler::kCommunication, "#e15759"},
      {profiler::kOther, "#76b7b2"},       {profiler::kIdle, "#bab0ac"},
  };
  const auto it = colors.find(category);
  return it == colors.end() ? "#9d9d9d" : it->second;
}

Chart make(std::string id, std::string title, svg::Svg svg) {
  return {std::move(id), std::move(title), std::move(svg.text), svg.width, svg.height};
}

std::string ms_label(double v) { return fixed(v, 3); }

}  // namespace

std::vector<Chart> latency_charts(const Report& report, bool standalone) {
  if (report.runs.empty()) return {};
  svg::BoxChart chart;
  chart.title = "Latency per forward";
  chart.axis_label = "ms (box: middle half of the samples; whiskers: min and max; line: median)";
  for (const auto& r : report.runs) {
    chart.boxes.push_back({detail::run_name(r) + " · " + r.device + " " + r.dtype, r.stats.min_ms, r.q1_ms, r.stats.median_ms,
                           r.q3_ms, r.stats.max_ms});
  }
  chart.format = ms_label;
  chart.tick_format = svg::plain_number;
  return {make("latency", "Latency per forward of each run (ms)", svg::box_chart(chart, standalone))};
}

std::vector<Chart> profile_charts(const ProfileSection& p, bool standalone) {
  std::string id = p.label;
  std::replace(id.begin(), id.end(), ' ', '-');
  std::vector<Chart> charts;
  if (!p.categories.empty()) {
    svg::BarChart chart;
    chart.title = "Time per category, " + p.label;
    chart.axis_label = "ms per iteration (mean of " + std::to_string(p.iterations) + " profiled)";
    for (const auto& c : p.categories) {
      chart.bars.push_back({c.name, c.time_ms, category_color(c.name), fixed(100 * c.share, 1) + "%"});
    }
    chart.format = [](double v) { return fixed(v, v >= 100 ? 1 : 3); };
    chart.tick_format = svg::plain_number;
    charts.push_back(make(id + "-categories", "Time per category (" + p.label + ")", svg::bar_chart(chart, standalone)));
  }
  if (!p.memory.empty()) {
    int64_t peak = 0;
    bool reserved_differs = false;
    for (const auto& m : p.memory) {
      peak = std::max({peak, m.allocated_bytes, m.reserved_bytes});
      reserved_differs |= m.reserved_bytes != m.allocated_bytes;
    }
    // One unit for the whole axis, the largest that keeps ticks above 1.
    const double unit = peak >= 1'000'000'000 ? 1e9 : peak >= 1'000'000 ? 1e6 : peak >= 1'000 ? 1e3 : 1;
    const std::string unit_name = unit == 1e9 ? "GB" : unit == 1e6 ? "MB" : unit == 1e3 ? "kB" : "B";
    svg::LineChart chart;
    chart.title = "Memory over the last profiled iteration, " + p.label;
    chart.x_label = "ms into the iteration";
    chart.y_label = unit_name;
    svg::Series allocated{"allocated (tensors alive)", "#4e79a7", {}};
    svg::Series reserved{"reserved (caching allocator)", "#f28e2b", {}};
    for (const auto& m : p.memory) {
      allocated.points.emplace_back(m.time_ms, static_cast<double>(m.allocated_bytes) / unit);
      reserved.points.emplace_back(m.time_ms, static_cast<double>(m.reserved_bytes) / unit);
    }
    chart.series.push_back(std::move(allocated));
    if (reserved_differs) chart.series.push_back(std::move(reserved));
    charts.push_back(make(id + "-memory", "Memory over the last profiled iteration (" + p.label + ")",
                          svg::line_chart(chart, standalone)));
  }
  return charts;
}

std::vector<Chart> report_charts(const Report& report, bool standalone) {
  auto charts = latency_charts(report, standalone);
  for (const auto& p : report.profiles) {
    for (auto& c : profile_charts(p, standalone)) charts.push_back(std::move(c));
  }
  return charts;
}

std::string image_link(const Chart& chart) { return "mlopt-chart:" + chart.id; }

}  // namespace mlopt::report
