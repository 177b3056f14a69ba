#pragma once
// A small SVG chart writer: horizontal bars, horizontal box plots and line
// charts with "nice" axis ticks. Plain SVG 1.1 presentation attributes (no
// CSS, no scripts, no external references), so browsers and Qt's SVG
// renderer draw it alike. All text is XML-escaped.
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace mlopt::report::svg {

// Formats an axis tick or a value label.
using Formatter = std::function<std::string(double)>;
std::string plain_number(double value);  // 0, 0.25, 12.5, 1200 (up to 3 significant decimals)

struct Bar {
  std::string label;
  double value = 0;
  std::string color;  // "#4e79a7"; empty: the palette's next colour
  std::string note;   // written after the value label, e.g. "52.5%"
};

struct BarChart {
  std::string title;
  std::string axis_label;  // under the value axis, e.g. "ms per iteration"
  std::vector<Bar> bars;
  int width = 720;
  Formatter format = plain_number;       // the value written after each bar
  Formatter tick_format = plain_number;  // the axis
};

struct Box {
  std::string label;
  double min = 0, q1 = 0, median = 0, q3 = 0, max = 0;
};

struct BoxChart {
  std::string title;
  std::string axis_label;
  std::vector<Box> boxes;
  int width = 720;
  Formatter format = plain_number;       // the median written after each box
  Formatter tick_format = plain_number;  // the axis
};

struct Series {
  std::string name;
  std::string color;  // empty: the palette's next colour
  std::vector<std::pair<double, double>> points;  // (x, y), x ascending
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<Series> series;
  int width = 720;
  int height = 300;
  Formatter x_format = plain_number;
  Formatter y_format = plain_number;
  bool y_from_zero = true;
};

struct Svg {
  std::string text;
  int width = 0;
  int height = 0;
};

// `standalone`: an SVG document with the XML declaration and namespace;
// otherwise an <svg> element for HTML5 (which needs no namespace).
Svg bar_chart(const BarChart& chart, bool standalone = false);
Svg box_chart(const BoxChart& chart, bool standalone = false);
Svg line_chart(const LineChart& chart, bool standalone = false);

// Tick positions covering [lo, hi] at a step of 1, 2 or 5 x 10^k, about
// `target` of them; the first tick <= lo, the last >= hi.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

// Keeps at most `max_points` of a long series: per bucket of x, the points
// at its lowest and highest y, so peaks survive.
std::vector<std::pair<double, double>> decimate(const std::vector<std::pair<double, double>>& points,
                                                std::size_t max_points);

}  // namespace mlopt::report::svg
