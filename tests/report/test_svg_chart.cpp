// The SVG chart writer: axis ticks, the three kinds of chart, decimation
// that keeps peaks, escaping, and markup that parses.
#include <gtest/gtest.h>

#include <cmath>

#include "mlopt/report/escape.h"
#include "mlopt/report/svg_chart.h"
#include "parse_support.h"

namespace svg = mlopt::report::svg;
using mlopt::test::check_markup;
using mlopt::test::count;

TEST(SvgChart, NiceTicksCoverTheRangeInRoundSteps) {
  EXPECT_EQ(svg::nice_ticks(0, 10), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  const auto small = svg::nice_ticks(0, 0.319);  // steps of 0.05 up to 0.35
  ASSERT_EQ(small.size(), 8u);
  EXPECT_NEAR(small[1], 0.05, 1e-15);
  EXPECT_NEAR(small.back(), 0.35, 1e-15);
  const auto ticks = svg::nice_ticks(26.41, 31.9);
  ASSERT_GE(ticks.size(), 3u);
  EXPECT_LE(ticks.front(), 26.41);
  EXPECT_GE(ticks.back(), 31.9);
  for (std::size_t i = 1; i < ticks.size(); ++i) EXPECT_NEAR(ticks[i] - ticks[i - 1], 1, 1e-9);
  // One value: a range around it; nothing finite: a unit range.
  const auto one = svg::nice_ticks(5, 5);
  EXPECT_LT(one.front(), 5);
  EXPECT_GT(one.back(), 5);
  EXPECT_EQ(svg::nice_ticks(0, NAN), (std::vector<double>{0, 1}));
  EXPECT_EQ(svg::plain_number(0.30000000000000004), "0.3");
  EXPECT_EQ(svg::plain_number(1e-17), "0");
  EXPECT_EQ(svg::plain_number(1200), "1200");
}

TEST(SvgChart, BarsOnePerValueWithTheirLabels) {
  svg::BarChart chart;
  chart.title = "Time per category";
  chart.axis_label = "ms";
  chart.bars = {{"attention", 14.3, "#4e79a7", "52.5%"}, {"mlp", 7.1, "", ""}, {"idle", 0, "", ""}};
  const auto out = svg::bar_chart(chart);
  EXPECT_EQ(check_markup(out.text, false), "");
  EXPECT_EQ(out.text.find("xmlns"), std::string::npos);
  EXPECT_EQ(count(out.text, "<rect"), 3u);
  EXPECT_NE(out.text.find(">attention</text>"), std::string::npos);
  EXPECT_NE(out.text.find("14.3  52.5%"), std::string::npos);
  EXPECT_NE(out.text.find("fill=\"#4e79a7\""), std::string::npos);
  EXPECT_NE(out.text.find("<title>Time per category</title>"), std::string::npos);
  EXPECT_EQ(out.width, 720);
  EXPECT_GT(out.height, 3 * 20);
  // The longest bar reaches the end of the axis (16 = 14.3 rounded up to a tick), the others scale.
  EXPECT_NE(out.text.find("<text x=\"600.0\""), std::string::npos) << out.text;  // the last tick, at the plot's end
}

TEST(SvgChart, BoxesAndLines) {
  svg::BoxChart boxes;
  boxes.boxes = {{"run 1", 10, 11, 12, 13, 20}, {"run 2", 5, 5.5, 6, 6.5, 7}};
  const auto b = svg::box_chart(boxes, true);
  EXPECT_EQ(b.text.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_EQ(check_markup(b.text.substr(b.text.find("<svg")), false), "");
  EXPECT_EQ(count(b.text, "<rect"), 2u);                   // the boxes
  EXPECT_EQ(count(b.text, "stroke-width=\"2.5\""), 2u);    // the medians
  EXPECT_NE(b.text.find(">12</text>"), std::string::npos);  // median written beside its box

  svg::LineChart lines;
  lines.series = {{"allocated", "", {{0, 1}, {1, 3}, {2, 2}}}, {"reserved", "", {{0, 4}, {2, 4}}}};
  lines.y_label = "MB";
  const auto l = svg::line_chart(lines);
  EXPECT_EQ(check_markup(l.text, false), "");
  EXPECT_EQ(count(l.text, "<polyline"), 2u);
  EXPECT_NE(l.text.find(">allocated</text>"), std::string::npos);  // a legend with two series
  EXPECT_NE(l.text.find("rotate(-90)\">MB</text>"), std::string::npos);

  svg::LineChart empty;
  EXPECT_NE(svg::line_chart(empty).text.find("no data"), std::string::npos);
}

TEST(SvgChart, DecimationKeepsPeaks) {
  std::vector<std::pair<double, double>> points;
  for (int i = 0; i < 10'000; ++i) points.emplace_back(i, i == 4321 ? 100.0 : std::sin(i * 0.01));
  const auto kept = svg::decimate(points, 500);
  EXPECT_LE(kept.size(), 500u);
  EXPECT_GE(kept.size(), 400u);
  bool peak = false;
  for (std::size_t i = 0; i < kept.size(); ++i) {
    peak |= kept[i].second == 100.0;
    if (i > 0) {
      EXPECT_LT(kept[i - 1].first, kept[i].first);
    }
  }
  EXPECT_TRUE(peak);
  EXPECT_EQ(svg::decimate(points, 20'000).size(), points.size());
}

TEST(SvgChart, TextIsEscapedAndLongLabelsCut) {
  svg::BarChart chart;
  chart.title = "a < b & \"c\"";
  chart.bars = {{std::string(200, 'x') + "<tail>", 1, "", ""}, {"caf\xC3\xA9 & <b>", 2, "\"><script>", ""}};
  const auto out = svg::bar_chart(chart);
  EXPECT_EQ(check_markup(out.text, false), "");
  EXPECT_EQ(out.text.find("<script"), std::string::npos);
  EXPECT_EQ(out.text.find("<tail>"), std::string::npos);
  EXPECT_NE(out.text.find("\xE2\x80\xA6</text>"), std::string::npos);  // cut, with an ellipsis
  EXPECT_NE(out.text.find(">caf\xC3\xA9 &amp; &lt;b&gt;</text>"), std::string::npos);
  EXPECT_NE(out.text.find("a &lt; b &amp; &quot;c&quot;"), std::string::npos);
}

TEST(ReportEscape, EachFormatsRules) {
  EXPECT_EQ(mlopt::report::escape_xml("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(mlopt::report::escape_xml(std::string("a\x01" "b")), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(mlopt::report::escape_markdown("a|b_c*d\n<e>&`f`\\"), "a\\|b\\_c\\*d \\<e\\>\\&\\`f\\`\\\\");
  EXPECT_EQ(mlopt::report::csv_field("plain"), "plain");
  EXPECT_EQ(mlopt::report::csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(mlopt::report::csv_field("say \"hi\"\n"), "\"say \"\"hi\"\"\n\"");
  EXPECT_EQ(mlopt::report::exact_number(0.1), "0.1");
  EXPECT_EQ(mlopt::report::exact_number(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(mlopt::report::exact_number(NAN), "nan");
  EXPECT_EQ(std::strtod(mlopt::report::exact_number(27.321760000000002).c_str(), nullptr), 27.321760000000002);
}
