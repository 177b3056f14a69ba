#include "mlopt/report/svg_chart.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "mlopt/core/units.h"
#include "mlopt/report/escape.h"

namespace mlopt::report::svg {
namespace {

// Tableau 10: distinguishable, and the workbench's charts use the same.
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
constexpr const char* kText = "#333333";
constexpr const char* kAxis = "#888888";
constexpr const char* kGrid = "#e3e3e3";
constexpr int kFont = 12;
// Average advance of a 12 px sans-serif character: enough to size label
// columns without measuring text (SVG has no layout of its own).
constexpr double kCharWidth = 7;

std::string num(double v) { return fixed(std::isfinite(v) ? v : 0.0, 1); }

std::string palette(std::size_t i) { return kPalette[i % (sizeof kPalette / sizeof kPalette[0])]; }

// Characters, not bytes, of UTF-8 text: continuation bytes don't count.
std::size_t length(const std::string& text) {
  std::size_t n = 0;
  for (const char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// Cuts a label to `max_chars` characters, ending in an ellipsis.
std::string fit(const std::string& text, int max_chars) {
  if (max_chars < 2) max_chars = 2;
  if (static_cast<int>(length(text)) <= max_chars) return text;
  std::size_t kept = 0, cut = 0;
  for (; cut < text.size(); ++cut) {
    if ((static_cast<unsigned char>(text[cut]) & 0xC0) != 0x80 && kept++ == static_cast<std::size_t>(max_chars - 1)) break;
  }
  return text.substr(0, cut) + "\xE2\x80\xA6";
}

class Writer {
 public:
  Writer(int width, int height, bool standalone, const std::string& title) : width_(width), height_(height) {
    if (standalone) out_ += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out_ += "<svg";
    if (standalone) out_ += " xmlns=\"http://www.w3.org/2000/svg\"";
    out_ += " width=\"" + std::to_string(width) + "\" height=\"" + std::to_string(height) + "\" viewBox=\"0 0 " +
            std::to_string(width) + " " + std::to_string(height) + "\" font-family=\"sans-serif\" font-size=\"" +
            std::to_string(kFont) + "\" role=\"img\">\n";
    if (!title.empty()) {
      out_ += "<title>" + escape_xml(title) + "</title>\n";
      text(8, 18, title, "start", kText, 14, true);
    }
  }
  void rect(double x, double y, double w, double h, const std::string& fill, const std::string& stroke = "") {
    out_ += "<rect x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(std::max(w, 0.0)) + "\" height=\"" +
            num(std::max(h, 0.0)) + "\" fill=\"" + escape_xml(fill) + "\"";
    if (!stroke.empty()) out_ += " stroke=\"" + escape_xml(stroke) + "\" stroke-width=\"1\"";
    out_ += "/>\n";
  }
  void line(double x1, double y1, double x2, double y2, const std::string& stroke, double width = 1) {
    out_ += "<line x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" + num(y2) +
            "\" stroke=\"" + escape_xml(stroke) + "\" stroke-width=\"" + num(width) + "\"/>\n";
  }
  void text(double x, double y, const std::string& s, const char* anchor = "start", const char* fill = kText,
            int size = kFont, bool bold = false) {
    out_ += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" text-anchor=\"" + anchor + "\" fill=\"" + fill + "\"";
    if (size != kFont) out_ += " font-size=\"" + std::to_string(size) + "\"";
    if (bold) out_ += " font-weight=\"bold\"";
    out_ += ">" + escape_xml(s) + "</text>\n";
  }
  // Centred on (x, y), reading upwards: a vertical axis's label.
  void vertical_text(double x, double y, const std::string& s, const char* fill) {
    out_ += "<text x=\"0\" y=\"0\" text-anchor=\"middle\" fill=\"" + std::string(fill) + "\" transform=\"translate(" +
            num(x) + "," + num(y) + ") rotate(-90)\">" + escape_xml(s) + "</text>\n";
  }
  void polyline(const std::vector<std::pair<double, double>>& points, const std::string& stroke) {
    out_ += "<polyline fill=\"none\" stroke=\"" + escape_xml(stroke) + "\" stroke-width=\"1.5\" stroke-linejoin=\"round\" points=\"";
    for (std::size_t i = 0; i < points.size(); ++i) {
      out_ += (i ? " " : "") + num(points[i].first) + "," + num(points[i].second);
    }
    out_ += "\"/>\n";
  }
  Svg finish() {
    out_ += "</svg>\n";
    return {std::move(out_), width_, height_};
  }

 private:
  std::string out_;
  int width_, height_;
};

struct Scale {
  double lo, hi, from, to;  // data [lo, hi] onto pixels [from, to]
  double operator()(double v) const { return hi > lo ? from + (v - lo) / (hi - lo) * (to - from) : from; }
};

// Vertical grid lines and tick labels under a horizontal value axis.
void value_axis(Writer& w, const std::vector<double>& ticks, const Scale& x, double top, double bottom,
                const Formatter& format, const std::string& label) {
  for (const double t : ticks) {
    w.line(x(t), top, x(t), bottom, kGrid);
    w.text(x(t), bottom + 15, format(t), "middle", kAxis);
  }
  w.line(x.from, bottom, x.to, bottom, kAxis);
  if (!label.empty()) w.text((x.from + x.to) / 2, bottom + 32, label, "middle", kAxis);
}

int title_height(const std::string& title) { return title.empty() ? 8 : 30; }

template <class Item>
int label_width(const std::vector<Item>& items, int width) {
  std::size_t longest = 0;
  for (const auto& item : items) longest = std::max(longest, length(item.label));
  return static_cast<int>(std::ceil(std::min(static_cast<double>(longest) * kCharWidth + 12, width * 0.4)));
}

}  // namespace

std::string plain_number(double value) {
  if (!std::isfinite(value)) return std::isnan(value) ? "nan" : (value > 0 ? "inf" : "-inf");
  if (std::fabs(value) < 1e-12) return "0";  // a tick at 0 computed as 1e-17
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::general, 6);
  return std::string(buf, r.ptr);
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {0, 1};
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) {
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.05;
    lo -= pad;
    hi += pad;
  }
  target = std::max(target, 2);
  const double raw = (hi - lo) / target;
  const double magnitude = std::pow(10, std::floor(std::log10(raw)));
  const double norm = raw / magnitude;
  const double step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * magnitude;
  const double first = std::floor(lo / step + 1e-9);
  const double last = std::ceil(hi / step - 1e-9);
  std::vector<double> ticks;
  for (double i = first; i <= last + 0.5; ++i) ticks.push_back(i * step);  // by index: no accumulated error
  return ticks;
}

std::vector<std::pair<double, double>> decimate(const std::vector<std::pair<double, double>>& points,
                                                std::size_t max_points) {
  if (points.size() <= max_points || max_points < 4) return points;
  const std::size_t buckets = max_points / 2;
  std::vector<std::pair<double, double>> out;
  out.reserve(buckets * 2);
  for (std::size_t b = 0; b < buckets; ++b) {
    const std::size_t begin = b * points.size() / buckets;
    const std::size_t end = (b + 1) * points.size() / buckets;
    if (begin >= end) continue;
    auto [lo, hi] = std::minmax_element(points.begin() + static_cast<std::ptrdiff_t>(begin),
                                        points.begin() + static_cast<std::ptrdiff_t>(end),
                                        [](const auto& a, const auto& c) { return a.second < c.second; });
    if (lo > hi) std::swap(lo, hi);  // keep x order
    out.push_back(*lo);
    if (hi != lo) out.push_back(*hi);
  }
  return out;
}

Svg bar_chart(const BarChart& chart, bool standalone) {
  constexpr int kRow = 24, kBar = 16, kValueColumn = 120;
  const int top = title_height(chart.title);
  const int rows = std::max<int>(1, static_cast<int>(chart.bars.size()));
  const int height = top + rows * kRow + 44;
  const int labels = label_width(chart.bars, chart.width);
  Writer w(chart.width, height, standalone, chart.title);
  double max = 0;
  for (const auto& b : chart.bars) max = std::max(max, std::isfinite(b.value) ? b.value : 0);
  const auto ticks = nice_ticks(0, max > 0 ? max : 1);
  const Scale x{0, ticks.back(), static_cast<double>(labels), static_cast<double>(chart.width - kValueColumn)};
  const double bottom = top + rows * kRow + 4;
  value_axis(w, ticks, x, top, bottom, chart.tick_format, chart.axis_label);
  const int label_chars = static_cast<int>(std::lround((labels - 12) / kCharWidth));
  for (std::size_t i = 0; i < chart.bars.size(); ++i) {
    const auto& b = chart.bars[i];
    const double y = top + static_cast<double>(i) * kRow + (kRow - kBar) / 2.0 + 2;
    const double value = std::isfinite(b.value) ? std::max(b.value, 0.0) : 0;
    w.text(labels - 8, y + kBar - 4, fit(b.label, label_chars), "end");
    w.rect(x.from, y, x(value) - x.from, kBar, b.color.empty() ? palette(i) : b.color);
    w.text(x(value) + 5, y + kBar - 4, chart.format(b.value) + (b.note.empty() ? "" : "  " + b.note));
  }
  if (chart.bars.empty()) w.text(chart.width / 2.0, top + kRow / 2.0 + 4, "no data", "middle", kAxis);
  return w.finish();
}

Svg box_chart(const BoxChart& chart, bool standalone) {
  constexpr int kRow = 36, kBox = 18, kValueColumn = 90;
  const int top = title_height(chart.title);
  const int rows = std::max<int>(1, static_cast<int>(chart.boxes.size()));
  const int height = top + rows * kRow + 44;
  const int labels = label_width(chart.boxes, chart.width);
  Writer w(chart.width, height, standalone, chart.title);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const auto& b : chart.boxes) {
    lo = std::min(lo, b.min);
    hi = std::max(hi, b.max);
  }
  if (chart.boxes.empty()) lo = 0, hi = 1;
  const auto ticks = nice_ticks(lo, hi);
  const Scale x{ticks.front(), ticks.back(), static_cast<double>(labels), static_cast<double>(chart.width - kValueColumn)};
  const double bottom = top + rows * kRow + 4;
  value_axis(w, ticks, x, top, bottom, chart.tick_format, chart.axis_label);
  const int label_chars = static_cast<int>(std::lround((labels - 12) / kCharWidth));
  for (std::size_t i = 0; i < chart.boxes.size(); ++i) {
    const auto& b = chart.boxes[i];
    const double y = top + static_cast<double>(i) * kRow + (kRow - kBox) / 2.0 + 2;
    const double mid = y + kBox / 2.0;
    const std::string color = palette(i);
    w.text(labels - 8, mid + 4, fit(b.label, label_chars), "end");
    w.line(x(b.min), mid, x(b.q1), mid, kText);  // whiskers: min and max
    w.line(x(b.q3), mid, x(b.max), mid, kText);
    w.line(x(b.min), y + 3, x(b.min), y + kBox - 3, kText);
    w.line(x(b.max), y + 3, x(b.max), y + kBox - 3, kText);
    w.rect(x(b.q1), y, std::max(x(b.q3) - x(b.q1), 1.0), kBox, color, kText);  // the middle half
    w.line(x(b.median), y, x(b.median), y + kBox, kText, 2.5);
    w.text(chart.width - kValueColumn + 8, mid + 4, chart.format(b.median));
  }
  if (chart.boxes.empty()) w.text(chart.width / 2.0, top + kRow / 2.0 + 4, "no data", "middle", kAxis);
  return w.finish();
}

Svg line_chart(const LineChart& chart, bool standalone) {
  constexpr int kLeft = 78, kRight = 16, kLegend = 20;
  const int top = title_height(chart.title) + (chart.series.size() > 1 ? kLegend : 0);
  const double bottom = chart.height - 44;
  Writer w(chart.width, chart.height, standalone, chart.title);
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo, y_lo = x_lo, y_hi = -x_lo;
  for (const auto& s : chart.series) {
    for (const auto& [px, py] : s.points) {
      if (!std::isfinite(px) || !std::isfinite(py)) continue;
      x_lo = std::min(x_lo, px), x_hi = std::max(x_hi, px);
      y_lo = std::min(y_lo, py), y_hi = std::max(y_hi, py);
    }
  }
  const bool empty = !std::isfinite(x_lo);
  if (empty) x_lo = 0, x_hi = 1, y_lo = 0, y_hi = 1;
  if (chart.y_from_zero) y_lo = std::min(y_lo, 0.0);
  const auto xt = nice_ticks(x_lo, x_hi, 6);
  const auto yt = nice_ticks(y_lo, y_hi, 5);
  const Scale x{xt.front(), xt.back(), static_cast<double>(kLeft), static_cast<double>(chart.width - kRight)};
  const Scale y{yt.front(), yt.back(), bottom, static_cast<double>(top)};
  value_axis(w, xt, x, top, bottom, chart.x_format, chart.x_label);
  for (const double t : yt) {
    w.line(x.from, y(t), x.to, y(t), kGrid);
    w.text(x.from - 6, y(t) + 4, chart.y_format(t), "end", kAxis);
  }
  w.line(x.from, top, x.from, bottom, kAxis);
  if (!chart.y_label.empty()) w.vertical_text(14, (top + bottom) / 2, chart.y_label, kAxis);
  const std::size_t max_points = static_cast<std::size_t>(std::max(chart.width, 100)) * 2;
  double legend_x = kLeft;
  for (std::size_t i = 0; i < chart.series.size(); ++i) {
    const auto& s = chart.series[i];
    const std::string color = s.color.empty() ? palette(i) : s.color;
    std::vector<std::pair<double, double>> pixels;
    for (const auto& [px, py] : decimate(s.points, max_points)) {
      if (std::isfinite(px) && std::isfinite(py)) pixels.emplace_back(x(px), y(py));
    }
    if (pixels.size() == 1) pixels.push_back({pixels[0].first + 1, pixels[0].second});  // one sample: a dot
    w.polyline(pixels, color);
    if (chart.series.size() > 1) {
      const double ly = title_height(chart.title) + 6;
      w.line(legend_x, ly, legend_x + 18, ly, color, 3);
      w.text(legend_x + 24, ly + 4, s.name);
      legend_x += 24 + static_cast<double>(length(s.name)) * kCharWidth + 24;
    }
  }
  if (empty) w.text((x.from + x.to) / 2, (top + bottom) / 2, "no data", "middle", kAxis);
  return w.finish();
}

}  // namespace mlopt::report::svg
