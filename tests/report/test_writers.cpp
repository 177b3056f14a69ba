// Every writer on real and hand-made profiles, each output read back: the
// Markdown tables, the CSV, the JSON, the HTML's markup and its SVG charts.
// Then names built to break each format.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <map>
#include <set>
#include <tuple>

#include "mlopt/core/units.h"
#include "mlopt/report/charts.h"
#include "mlopt/report/format.h"
#include "mlopt/report/writers.h"
#include "parse_support.h"
#include "report_fixture.h"
#include "sections.h"  // report/src: short_kernel_name

using mlopt::report::Report;
using mlopt::test::check_markup;
using mlopt::test::count;
using mlopt::test::find_table;

namespace {

Report gpu_report() { return mlopt::report::build_report(mlopt::test::gpu_project(), mlopt::test::fixed_options(10)); }
Report cpu_report() { return mlopt::report::build_report(mlopt::test::cpu_project(), mlopt::test::fixed_options()); }

// (section, name, metric) -> (value, unit), failing on a duplicate key.
using CsvIndex = std::map<std::tuple<std::string, std::string, std::string>, std::pair<std::string, std::string>>;
CsvIndex index_csv(const std::string& text) {
  const auto rows = mlopt::test::parse_csv(text);
  CsvIndex index;
  EXPECT_FALSE(rows.empty());
  if (rows.empty()) return index;
  EXPECT_EQ(rows[0], (std::vector<std::string>{"section", "name", "metric", "value", "unit"}));
  for (std::size_t i = 1; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].size(), 5u) << "row " << i;
    if (rows[i].size() != 5) continue;
    const bool added = index.emplace(std::make_tuple(rows[i][0], rows[i][1], rows[i][2]),
                                     std::make_pair(rows[i][3], rows[i][4]))
                           .second;
    EXPECT_TRUE(added) << "duplicate " << rows[i][0] << "," << rows[i][1] << "," << rows[i][2];
  }
  return index;
}

double number(const CsvIndex& index, const std::string& section, const std::string& name, const std::string& metric) {
  const auto it = index.find({section, name, metric});
  if (it == index.end()) {
    ADD_FAILURE() << "no CSV row " << section << "," << name << "," << metric;
    return -1;
  }
  return std::strtod(it->second.first.c_str(), nullptr);
}

std::string text(const CsvIndex& index, const std::string& section, const std::string& name, const std::string& metric) {
  const auto it = index.find({section, name, metric});
  if (it == index.end()) {
    ADD_FAILURE() << "no CSV row " << section << "," << name << "," << metric;
    return {};
  }
  EXPECT_EQ(it->second.second, "text") << section << "," << name << "," << metric;
  return it->second.first;
}

}  // namespace

TEST(MarkdownReport, TablesReadBackWithTheirRows) {
  const auto r = gpu_report();
  const auto md = mlopt::report::to_markdown(r);
  EXPECT_EQ(md.rfind("# mlopt report: gpt2.pt\n", 0), 0u);
  const auto tables = mlopt::test::markdown_tables(md);

  const auto* runs = find_table(tables, "Runs");
  ASSERT_NE(runs, nullptr) << md;
  ASSERT_EQ(runs->rows.size(), r.runs.size());
  const auto* latency = find_table(tables, "Milliseconds per forward");
  ASSERT_NE(latency, nullptr);
  ASSERT_EQ(latency->rows.size(), 2u);
  EXPECT_EQ(latency->header[1], "median");
  EXPECT_EQ(latency->rows[1][1], mlopt::fixed(r.runs[1].stats.median_ms, 3));

  const auto& p = r.profiles[0];
  const auto* categories = find_table(tables, "Where the time goes");
  ASSERT_NE(categories, nullptr);
  ASSERT_EQ(categories->rows.size(), p.categories.size());
  EXPECT_EQ(categories->rows[0][0], "attention");
  EXPECT_EQ(categories->rows[0][1], mlopt::fixed(p.categories[0].time_ms, 3));
  EXPECT_EQ(categories->rows[1][0], p.categories[1].name);  // "embedding/lm_head", unescaped
  ASSERT_NE(find_table(tables, "Modules"), nullptr);
  EXPECT_EQ(find_table(tables, "Modules")->rows.size(), 10u);  // the top 10
  EXPECT_GT(p.total_modules, 10);
  EXPECT_NE(md.find("The 10 longest of " + std::to_string(p.total_modules) + " modules."), std::string::npos);
  const auto* ops = find_table(tables, "Top ops (GPU time)");
  ASSERT_NE(ops, nullptr);
  EXPECT_EQ(ops->rows.size(), 10u);
  EXPECT_EQ(ops->header.size(), 10u);
  for (const auto& row : ops->rows) EXPECT_EQ(row.size(), ops->header.size());
  EXPECT_EQ(ops->rows[0][1], p.ops[0].name);
  const auto* kernels = find_table(tables, "Top kernels");
  ASSERT_NE(kernels, nullptr);
  EXPECT_EQ(kernels->rows.size(), 10u);
  for (std::size_t i = 0; i < kernels->rows.size(); ++i) {
    const auto& row = kernels->rows[i];
    EXPECT_EQ(row.size(), kernels->header.size());
    // Long template names cut to 100 characters, the CSV and JSON keep them whole.
    EXPECT_EQ(row[1], mlopt::report::detail::short_kernel_name(p.kernels[i].name));
    EXPECT_LE(row[1].size(), 102u);
  }
  const auto* recs = find_table(tables, "Recommendations");
  ASSERT_NE(recs, nullptr);
  ASSERT_EQ(recs->rows.size(), p.recommendations.size());
  EXPECT_EQ(recs->rows[0][0], "flash_attention");
  EXPECT_NE(recs->rows[0][3].find("and 9 more"), std::string::npos) << recs->rows[0][3];

  // The profile's facts: overhead, peak memory and ceilings.
  EXPECT_NE(md.find("| Profiler overhead | " + mlopt::fixed(100 * p.overhead, 1) + "%"), std::string::npos);
  EXPECT_NE(md.find(mlopt::human_bytes(p.peak_memory_bytes)), std::string::npos);
  EXPECT_NE(md.find("717.7 TFLOP/s fp16 GEMM"), std::string::npos);
}

TEST(MarkdownReport, CpuProfilesAndEmptySections) {
  const auto md = mlopt::report::to_markdown(cpu_report());
  const auto tables = mlopt::test::markdown_tables(md);
  EXPECT_NE(md.find("## Profile 1: Test CPU, ids:int64\\[1,16\\], fp32"), std::string::npos) << md;
  ASSERT_NE(find_table(tables, "Top ops (CPU time)"), nullptr);
  EXPECT_EQ(find_table(tables, "Top ops (CPU time)")->rows.size(), 4u);
  EXPECT_EQ(find_table(tables, "Top ops (GPU time)")->rows.size(), 4u);
  EXPECT_NE(md.find("_No kernels: a CPU profile._"), std::string::npos);
  EXPECT_EQ(find_table(tables, "Top kernels")->rows.size(), 1u);  // the second profile's

  mlopt::Project empty;
  empty.model_path = "/models/new.pt";
  const auto none = mlopt::report::to_markdown(mlopt::report::build_report(empty, {}));
  EXPECT_NE(none.find("No runs recorded"), std::string::npos) << none;
  EXPECT_NE(none.find("No profiles recorded"), std::string::npos) << none;
  EXPECT_EQ(mlopt::test::markdown_tables(none).size(), 1u);  // the project's facts only
}

TEST(CsvReport, ReadsBackWithTheReportsNumbers) {
  const auto r = gpu_report();
  const auto index = index_csv(mlopt::report::to_csv(r));
  EXPECT_EQ(number(index, "report", "report", "report_version"), 1);
  EXPECT_EQ(text(index, "project", "project", "model"), "/models/gpt2.pt");
  EXPECT_EQ(text(index, "project", "project", "device_name"), "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(text(index, "project", "project", "transforms"), "flash_attention");

  for (const auto& run : r.runs) {
    EXPECT_EQ(number(index, "run", run.label, "median"), run.stats.median_ms);  // exact: shortest round trip
    EXPECT_EQ(number(index, "run", run.label, "p90"), run.stats.p90_ms);
    EXPECT_EQ(number(index, "run", run.label, "q1"), run.q1_ms);
    EXPECT_EQ(number(index, "run", run.label, "iterations"), 25);
    EXPECT_EQ(number(index, "run", run.label, "tokens_per_second"), run.tokens_per_second);
    for (std::size_t i = 0; i < run.samples_ms.size(); ++i) {
      EXPECT_EQ(number(index, "run sample", run.label + "/#" + std::to_string(i + 1), "latency"), run.samples_ms[i]);
    }
  }
  const auto& p = r.profiles[0];
  EXPECT_EQ(number(index, "profile", "profile 1", "iteration_median"), p.iteration_ms);
  EXPECT_EQ(number(index, "profile", "profile 1", "profiler_overhead"), p.overhead);
  EXPECT_EQ(number(index, "profile", "profile 1", "peak_memory"), static_cast<double>(p.peak_memory_bytes));
  EXPECT_EQ(number(index, "profile", "profile 1", "ops"), p.total_ops);
  EXPECT_EQ(number(index, "ceilings", "profile 1", "matmul"), p.ceilings.matmul_tflops);
  EXPECT_EQ(index.at({"ceilings", "profile 1", "matmul"}).second, "TFLOP/s");
  for (const auto& c : p.categories) {
    EXPECT_EQ(number(index, "category", "profile 1/" + c.name, "time"), c.time_ms) << c.name;
    EXPECT_EQ(number(index, "category", "profile 1/" + c.name, "share"), c.share) << c.name;
    EXPECT_EQ(text(index, "category", "profile 1/" + c.name, "bound"), c.bound);
  }
  for (const auto& m : p.modules) EXPECT_EQ(number(index, "module", "profile 1/" + m.name, "time"), m.time_ms);
  for (std::size_t i = 0; i < p.ops.size(); ++i) {
    const std::string name = "profile 1/#" + std::to_string(i + 1);
    EXPECT_EQ(text(index, "op", name, "op"), p.ops[i].name);
    EXPECT_EQ(number(index, "op", name, "time"), p.ops[i].time_ms);
  }
  // Kernel names of templated C++ hold commas and quotes: whole after quoting.
  for (std::size_t i = 0; i < p.kernels.size(); ++i) {
    EXPECT_EQ(text(index, "kernel", "profile 1/#" + std::to_string(i + 1), "kernel"), p.kernels[i].name);
  }
  EXPECT_EQ(index.count({"op", "profile 1/#11", "op"}), 0u);  // the top 10 only
  EXPECT_EQ(text(index, "recommendation", "profile 1/#1", "transform"), "flash_attention");
  EXPECT_EQ(number(index, "recommendation", "profile 1/#1", "saving"), p.recommendations[0].saving_ms);
  for (std::size_t i = 0; i < p.memory.size(); i += 97) {
    const std::string name = "profile 1/#" + std::to_string(i + 1);
    EXPECT_EQ(number(index, "memory", name, "allocated"), static_cast<double>(p.memory[i].allocated_bytes));
    EXPECT_EQ(number(index, "memory", name, "time"), p.memory[i].time_ms);
  }
  EXPECT_EQ(index.count({"memory", "profile 1/#" + std::to_string(p.memory.size()), "reserved"}), 1u);
  EXPECT_EQ(index.count({"memory", "profile 1/#" + std::to_string(p.memory.size() + 1), "reserved"}), 0u);
}

TEST(JsonReport, ParsesAndRoundTripsTheKeyNumbers) {
  const auto r = gpu_report();
  const auto j = nlohmann::json::parse(mlopt::report::to_json(r));
  EXPECT_EQ(j["format"], "mlopt-report");
  EXPECT_EQ(j["report_version"], 1);
  EXPECT_EQ(j["generated_at"], "2026-11-25T06:00:00Z");
  EXPECT_EQ(j["project"]["file"], "/projects/gpt2.mlopt");
  EXPECT_EQ(j["project"]["device"], "cuda");
  ASSERT_EQ(j["runs"].size(), 2u);
  for (std::size_t i = 0; i < r.runs.size(); ++i) {
    const auto& run = j["runs"][i];
    EXPECT_EQ(run["latency_ms"]["median"].get<double>(), r.runs[i].stats.median_ms);
    EXPECT_EQ(run["latency_ms"]["stddev"].get<double>(), r.runs[i].stats.stddev_ms);
    EXPECT_EQ(run["samples_ms"].get<std::vector<double>>(), r.runs[i].samples_ms);
    EXPECT_EQ(run["tokens_per_forward"], 8192);
  }
  ASSERT_EQ(j["profiles"].size(), 1u);
  const auto& jp = j["profiles"][0];
  const auto& p = r.profiles[0];
  EXPECT_EQ(jp["time_basis"], "gpu");
  EXPECT_EQ(jp["iteration_ms"]["median"].get<double>(), p.iteration_ms);
  EXPECT_EQ(jp["profiler_overhead"].get<double>(), p.overhead);
  EXPECT_EQ(jp["ceilings"]["copy_gbps"].get<double>(), p.ceilings.copy_gbps);
  ASSERT_EQ(jp["categories"].size(), p.categories.size());
  for (std::size_t i = 0; i < p.categories.size(); ++i) {
    EXPECT_EQ(jp["categories"][i]["name"], p.categories[i].name);
    EXPECT_EQ(jp["categories"][i]["time_ms"].get<double>(), p.categories[i].time_ms);
  }
  EXPECT_EQ(jp["modules"].size(), 10u);
  EXPECT_EQ(jp["total_modules"], p.total_modules);
  ASSERT_EQ(jp["ops"].size(), 10u);
  EXPECT_EQ(jp["total_ops"], p.total_ops);
  EXPECT_EQ(jp["kernels"][0]["name"], p.kernels[0].name);
  EXPECT_EQ(jp["kernels"][0]["time_ms"].get<double>(), p.kernels[0].time_ms);
  EXPECT_EQ(jp["recommendations"][0]["modules"].size(), 12u);
  EXPECT_EQ(jp["memory"]["peak_bytes"], p.peak_memory_bytes);
  ASSERT_EQ(jp["memory"]["timeline"].size(), p.memory.size());
  EXPECT_EQ(jp["memory"]["timeline"].back()["allocated_bytes"], p.memory.back().allocated_bytes);
  EXPECT_EQ(jp["trust"]["dropped_records"], 0);
}

TEST(HtmlReport, OneSelfContainedWellFormedFile) {
  for (const auto& r : {gpu_report(), cpu_report()}) {
    const auto html = mlopt::report::to_html(r);
    EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
    EXPECT_EQ(check_markup(html, true), "");
    // Nothing fetched from elsewhere, nothing run.
    EXPECT_EQ(html.find("http://"), std::string::npos);
    EXPECT_EQ(html.find("https://"), std::string::npos);
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_EQ(html.find("<link"), std::string::npos);
    EXPECT_EQ(html.find(" src="), std::string::npos);
    EXPECT_EQ(html.find("url("), std::string::npos);
    // Anchors are unique.
    std::set<std::string> ids;
    for (std::size_t pos = html.find(" id=\""); pos != std::string::npos; pos = html.find(" id=\"", pos + 1)) {
      const std::size_t end = html.find('"', pos + 5);
      EXPECT_TRUE(ids.insert(html.substr(pos + 5, end - pos - 5)).second) << html.substr(pos, end - pos);
    }
    EXPECT_GT(ids.size(), 5u);

    // Every chart inline, each one well-formed SVG.
    const auto charts = mlopt::report::report_charts(r);
    const auto svgs = mlopt::test::svg_elements(html);
    ASSERT_EQ(svgs.size(), charts.size());
    for (const auto& svg : svgs) EXPECT_EQ(check_markup(svg, false), "") << svg.substr(0, 200);
    EXPECT_GE(charts.size(), 1 + 2 * r.profiles.size());  // latency, then per profile categories and memory

    // The numbers are there.
    EXPECT_NE(html.find("<td class=\"n\" align=\"right\">" + mlopt::fixed(r.runs[0].stats.median_ms, 3) + "</td>"),
              std::string::npos);
    for (const auto& p : r.profiles) {
      for (const auto& c : p.categories) {
        EXPECT_NE(html.find(mlopt::fixed(c.time_ms, 3)), std::string::npos) << c.name;
      }
      EXPECT_NE(html.find(mlopt::human_bytes(p.peak_memory_bytes)), std::string::npos);
    }
  }
}

TEST(HtmlReport, GpuProfileChartsAndTables) {
  const auto r = gpu_report();
  const auto html = mlopt::report::to_html(r);
  // Tables: the project's and each profile's facts, runs, latency, categories,
  // modules, ops, kernels, recommendations.
  EXPECT_EQ(count(html, "<table"), 2u + 2u + 5u);
  EXPECT_EQ(count(html, "<svg"), 3u);
  const auto svgs = mlopt::test::svg_elements(html);
  // One bar per category, one box per run, allocated and reserved memory lines.
  EXPECT_EQ(count(svgs[0], "stroke-width=\"2.5\""), 2u);  // the median lines of two runs
  EXPECT_GE(count(svgs[1], "<rect"), r.profiles[0].categories.size());
  EXPECT_EQ(count(svgs[2], "<polyline"), 2u);
  EXPECT_NE(svgs[1].find(">attention</text>"), std::string::npos);
  // The standalone charts are SVG documents for renderers outside HTML.
  for (const auto& c : mlopt::report::report_charts(r, true)) {
    EXPECT_EQ(c.svg.rfind("<?xml", 0), 0u);
    EXPECT_NE(c.svg.find("xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
    EXPECT_EQ(check_markup(c.svg, false), "");
  }
  // For Qt's rich text: images by name instead of inline SVG, none wider than asked.
  mlopt::report::HtmlOptions options;
  options.charts = mlopt::report::HtmlOptions::Charts::ImageLinks;
  options.max_image_width = 600;
  const auto linked = mlopt::report::to_html(r, options);
  EXPECT_EQ(count(linked, "<svg"), 0u);
  EXPECT_EQ(count(linked, "<img src=\"mlopt-chart:"), 3u);
  EXPECT_NE(linked.find("<img src=\"mlopt-chart:profile-1-memory\" width=\"600\" height=\"250\""), std::string::npos);
  EXPECT_EQ(check_markup(linked, true), "");
}

TEST(HtmlReport, EmptyProjectSaysSo) {
  mlopt::Project empty;
  empty.model_path = "/models/new.pt";
  const auto html = mlopt::report::to_html(mlopt::report::build_report(empty, {}));
  EXPECT_EQ(check_markup(html, true), "");
  EXPECT_NE(html.find("No runs recorded"), std::string::npos);
  EXPECT_NE(html.find("No profiles recorded"), std::string::npos);
  EXPECT_EQ(count(html, "<svg"), 0u);
  EXPECT_NE(html.find("(not saved)"), std::string::npos);
}

// Names from the project that would break each format if written raw.
TEST(ReportEscaping, HostileNamesBreakNoFormat) {
  const std::string path = "/tmp/a<b>&\"c\"'d|e,f\ng/<script>alert(1)</script>.pt";
  const std::string module = "evil|<b>&amp;\"x\",y`*_[z]";
  const std::string category = "<cat>&\"quoted\"";
  const std::string kernel = "void k<float, 4>(\"a\" & b)|x";
  auto project = mlopt::test::cpu_project();
  project.model_path = path;
  auto profile = mlopt::test::sample_profile(true);
  profile.model_path = path;
  profile.modules[0].module_path = module;
  profile.categories[0].category = category;
  profile.kernels[0].name = kernel;
  profile.recommendations[0].reason = "line one\nline two | <i>three</i>";
  project.profiles = {mlopt::profiler::to_json(profile)};
  const auto r = mlopt::report::build_report(project, mlopt::test::fixed_options());

  const auto html = mlopt::report::to_html(r);
  EXPECT_EQ(check_markup(html, true), "");
  for (const auto& svg : mlopt::test::svg_elements(html)) EXPECT_EQ(check_markup(svg, false), "");
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<b>"), std::string::npos);
  EXPECT_EQ(html.find("<i>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("evil|&lt;b&gt;&amp;amp;&quot;x&quot;,y"), std::string::npos);
  EXPECT_NE(html.find(">&lt;cat&gt;&amp;&quot;quoted&quot;</text>"), std::string::npos);  // in the bar chart
  // The title names the model file: what follows the path's last slash.
  EXPECT_NE(html.find("<title>mlopt report: script&gt;.pt</title>"), std::string::npos);

  const auto md = mlopt::report::to_markdown(r);
  for (std::size_t pos = md.find('<'); pos != std::string::npos; pos = md.find('<', pos + 1)) {
    ASSERT_TRUE(pos > 0 && md[pos - 1] == '\\') << "raw < in: " << md.substr(pos, 40);  // no HTML in Markdown
  }
  const auto tables = mlopt::test::markdown_tables(md);
  const auto* modules = find_table(tables, "Modules");
  ASSERT_NE(modules, nullptr);
  ASSERT_EQ(modules->rows.size(), profile.modules.size());
  EXPECT_EQ(modules->rows[0].size(), 5u);
  EXPECT_EQ(modules->rows[0][0], module);  // the pipe and the rest survive escaping
  const auto* categories = find_table(tables, "Where the time goes");
  ASSERT_NE(categories, nullptr);
  EXPECT_EQ(categories->rows[0][0], category);
  const auto* kernels = find_table(tables, "Top kernels");
  ASSERT_NE(kernels, nullptr);
  EXPECT_EQ(kernels->rows[0][1], "k<float, 4>(\"a\" & b)|x");  // shown without "void "
  const auto* recs = find_table(tables, "Recommendations");
  ASSERT_NE(recs, nullptr);
  ASSERT_EQ(recs->rows.size(), 2u);
  EXPECT_EQ(recs->rows[0][4], "line one line two | <i>three</i>");  // one line per row
  for (const auto& t : tables) {
    for (const auto& row : t.rows) EXPECT_EQ(row.size(), t.header.size()) << t.heading;
  }
  const auto* facts = &tables.front();
  EXPECT_EQ(facts->rows[1][1], "/tmp/a<b>&\"c\"'d|e,f g/<script>alert(1)</script>.pt");

  const auto index = index_csv(mlopt::report::to_csv(r));
  EXPECT_EQ(text(index, "project", "project", "model"), path);  // newline and all
  EXPECT_EQ(text(index, "kernel", "profile 1/#1", "kernel"), kernel);
  EXPECT_EQ(number(index, "module", "profile 1/" + module, "time"), r.profiles[0].modules[0].time_ms);
  EXPECT_EQ(number(index, "category", "profile 1/" + category, "share"), 0.5);

  const auto j = nlohmann::json::parse(mlopt::report::to_json(r));
  EXPECT_EQ(j["project"]["model"], path);
  EXPECT_EQ(j["profiles"][0]["modules"][0]["name"], module);
  EXPECT_EQ(j["profiles"][0]["kernels"][0]["name"], kernel);
}

namespace {

// A project after `mlopt compare`: the transforms' outcomes, and the second
// run labelled with the transforms it ran.
mlopt::Project optimized_project() {
  auto project = mlopt::test::gpu_project();
  project.runs.at(1).variant = "flash_attention+fused_mlp";
  mlopt::TransformOutcome attention;
  attention.transform = "flash_attention";
  attention.matched = {{"transformer.h.0.attn", "causal, scale 0.125, 12 heads x 64"}};
  attention.missed = {{"transformer.h.1.attn", "aten::softmax", "dropout on the probabilities in training mode"}};
  mlopt::Verification v;
  v.seeds = {1001, 1002};
  v.passed = true;
  v.outputs = {{"output", 4.88e-3, 3.18, 1.54e-3, 1e-2, true, ""}};
  attention.verification = v;
  attention.applied = true;
  mlopt::TransformOutcome mlp;
  mlp.transform = "fused_mlp";
  mlp.note = "nothing matched";
  project.optimizations = {attention, mlp};
  return project;
}

TEST(OptimizedProject, EveryFormatSaysWhatEachTransformDid) {
  const auto r = mlopt::report::build_report(optimized_project(), mlopt::test::fixed_options(10));
  ASSERT_EQ(r.optimizations.size(), 2u);

  const auto tables = mlopt::test::markdown_tables(mlopt::report::to_markdown(r));
  const auto* summary = find_table(tables, "Transforms");
  ASSERT_NE(summary, nullptr);
  ASSERT_EQ(summary->rows.size(), 2u);
  EXPECT_EQ(summary->rows[0][0], "flash_attention");
  EXPECT_EQ(summary->rows[0][1], "yes");
  EXPECT_EQ(summary->rows[0][2], "1");
  EXPECT_EQ(summary->rows[0][4], "passed: worst error 1.5e-03 (tolerance 1.0e-02)");
  EXPECT_EQ(summary->rows[1][1], "no");
  EXPECT_EQ(summary->rows[1][4], "not run (nothing matched)");
  const auto* missed = find_table(tables, "Left alone");
  ASSERT_NE(missed, nullptr);
  ASSERT_EQ(missed->rows.size(), 1u);
  EXPECT_EQ(missed->rows[0][3], "dropout on the probabilities in training mode");
  const auto* runs = find_table(tables, "Runs");
  ASSERT_NE(runs, nullptr);
  EXPECT_EQ(runs->rows.at(1)[0], "run 2 [flash_attention+fused_mlp]");

  const auto j = nlohmann::json::parse(mlopt::report::to_json(r));
  ASSERT_EQ(j["optimizations"].size(), 2u);
  EXPECT_EQ(j["optimizations"][0]["matched"][0]["module"], "transformer.h.0.attn");
  EXPECT_EQ(j["optimizations"][0]["verification"]["outputs"][0]["error"].get<double>(), 1.54e-3);
  EXPECT_TRUE(j["optimizations"][1]["verification"].is_null());
  EXPECT_EQ(j["runs"][1]["variant"], "flash_attention+fused_mlp");
  EXPECT_EQ(j["runs"][0]["variant"], "");

  const auto index = index_csv(mlopt::report::to_csv(r));
  EXPECT_EQ(text(index, "optimization", "flash_attention", "kept"), "yes");
  EXPECT_EQ(number(index, "optimization", "flash_attention", "left_alone"), 1);
  EXPECT_EQ(text(index, "optimization", "fused_mlp", "note"), "nothing matched");
  EXPECT_EQ(text(index, "run", "run 2", "variant"), "flash_attention+fused_mlp");

  const auto html = mlopt::report::to_html(r);
  EXPECT_EQ(check_markup(html, true), "");
  EXPECT_EQ(count(html, "id=\"optimizations\""), 2u);  // the section's heading and its first table
  EXPECT_NE(html.find("run 2 [flash_attention+fused_mlp]"), std::string::npos);
}

}  // namespace
