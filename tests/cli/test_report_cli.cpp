// `mlopt report` end to end: a project made by `mlopt run` and `mlopt
// profile` written in every format, each file read back; PDF where mlopt is
// built with Qt, a clear refusal where not; bad projects and bad options.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <regex>

#include "mlopt/core/project.h"
#include "parse_support.h"  // tests/report
#include "test_support.h"

using mlopt::test::quote;
using mlopt::test::read_text;
using mlopt::test::run_cli;

namespace {

// One project for every test here: two runs and a profile of the tiny gpt2 sample.
const std::filesystem::path& sample_project() {
  static const std::filesystem::path file = [] {
    const auto p = mlopt::test::fixture_dir() / "report.mlopt";
    const std::string model = quote(mlopt::test::tiny_gpt2());
    for (const char* dtype : {"fp32", "bf16"}) {
      const auto r = run_cli("run " + model + " --input 'ids:int64[1,8]' --iters 5 --warmup 1 --dtype " + dtype +
                             " --project " + quote(p));
      EXPECT_EQ(r.status, 0) << r.out;
    }
    const auto r = run_cli("profile " + model + " --input 'ids:int64[1,8]' --iters 2 --warmup 1 --project " + quote(p));
    EXPECT_EQ(r.status, 0) << r.out;
    return p;
  }();
  return file;
}

void expect_error(const mlopt::test::CliResult& r, int status, const std::string& part) {
  EXPECT_EQ(r.status, status) << r.out;
  EXPECT_NE(r.out.find("mlopt: error: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(part), std::string::npos) << "'" << part << "' not in: " << r.out;
}

#if MLOPT_CLI_HAS_PDF
// Pages in a PDF, from its structure: one "/Type /Page" object per page,
// and the page tree's /Count says how many there are.
int pdf_pages(const std::string& pdf) {
  const std::regex page("/Type\\s*/Page[^s]");
  const auto pages = std::distance(std::sregex_iterator(pdf.begin(), pdf.end(), page), std::sregex_iterator());
  std::smatch count;
  const std::regex count_re("/Count\\s+(\\d+)");
  if (!std::regex_search(pdf, count, count_re) || std::stoi(count[1]) != pages) return -1;
  return static_cast<int>(pages);
}
#endif

}  // namespace

TEST(CliReport, EveryTextFormatFromTheExtension) {
  mlopt::test::ScratchDir dir;
  const auto project = quote(sample_project());
  for (const char* ext : {"html", "json", "csv", "md"}) {
    const auto file = dir / (std::string("r.") + ext);
    const auto r = run_cli("report " + project + " -o " + quote(file));
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("wrote"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("2 runs, 1 profile"), std::string::npos) << r.out;
  }
  const auto j = nlohmann::json::parse(read_text(dir / "r.json"));
  EXPECT_EQ(j["format"], "mlopt-report");
  EXPECT_EQ(j["report_version"], 1);
  EXPECT_EQ(j["project"]["file"], std::filesystem::absolute(sample_project()).string());
  ASSERT_EQ(j["runs"].size(), 2u);
  EXPECT_EQ(j["runs"][1]["dtype"], "bf16");
  EXPECT_EQ(j["runs"][0]["samples_ms"].size(), 5u);
  ASSERT_EQ(j["profiles"].size(), 1u);
  EXPECT_EQ(j["profiles"][0]["ops"].size(), 20u);  // --top defaults to 20
  const auto& stored = mlopt::Project::load(sample_project());
  EXPECT_EQ(j["runs"][0]["latency_ms"]["median"].get<double>(), stored.runs[0].stats.median_ms);

  const auto tables = mlopt::test::markdown_tables(read_text(dir / "r.md"));
  ASSERT_NE(mlopt::test::find_table(tables, "Milliseconds per forward"), nullptr);
  EXPECT_EQ(mlopt::test::find_table(tables, "Milliseconds per forward")->rows.size(), 2u);
  ASSERT_NE(mlopt::test::find_table(tables, "Where the time goes"), nullptr);
  EXPECT_EQ(mlopt::test::find_table(tables, "Where the time goes")->rows.size(), j["profiles"][0]["categories"].size());

  const auto csv = mlopt::test::parse_csv(read_text(dir / "r.csv"));
  ASSERT_FALSE(csv.empty());
  EXPECT_EQ(csv[0], (std::vector<std::string>{"section", "name", "metric", "value", "unit"}));
  int samples = 0;
  for (const auto& row : csv) {
    ASSERT_EQ(row.size(), 5u);
    samples += row[0] == "run sample";
  }
  EXPECT_EQ(samples, 10);

  const auto html = read_text(dir / "r.html");
  EXPECT_EQ(mlopt::test::check_markup(html, true), "");
  EXPECT_EQ(mlopt::test::count(html, "<svg"), 3u);  // latency, time per category, memory
  EXPECT_EQ(html.find("http"), std::string::npos);
}

TEST(CliReport, FormatOptionAndTop) {
  mlopt::test::ScratchDir dir;
  const auto r = run_cli("report " + quote(sample_project()) + " --format markdown --top 3 -o " + quote(dir / "r.txt"));
  ASSERT_EQ(r.status, 0) << r.out;
  const auto tables = mlopt::test::markdown_tables(read_text(dir / "r.txt"));
  ASSERT_NE(mlopt::test::find_table(tables, "Top ops (CPU time)"), nullptr);
  EXPECT_EQ(mlopt::test::find_table(tables, "Top ops (CPU time)")->rows.size(), 3u);
  EXPECT_EQ(mlopt::test::find_table(tables, "Modules")->rows.size(), 3u);
}

TEST(CliReport, Pdf) {
  mlopt::test::ScratchDir dir;
  const auto file = dir / "r.pdf";
  const auto r = run_cli("report " + quote(sample_project()) + " -o " + quote(file));
#if MLOPT_CLI_HAS_PDF
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.find("QStandardPaths"), std::string::npos) << r.out;  // Qt's notes are not printed
  const auto pdf = read_text(file);
  EXPECT_EQ(pdf.rfind("%PDF-1.", 0), 0u);
  EXPECT_NE(pdf.find("%%EOF", pdf.size() - 16), std::string::npos);
  EXPECT_GT(pdf.size(), 20'000u);  // text, fonts and three chart images
  EXPECT_GE(pdf_pages(pdf), 2);
  // Its title, as Qt writes document info: UTF-16BE with a byte order mark.
  std::string title = "\xFE\xFF";
  for (const char c : std::string("mlopt report: tiny-gpt2.pt")) title += std::string(1, '\0') + c;
  EXPECT_NE(pdf.find("/Title (" + title + ")"), std::string::npos);

  // No display needed, whatever QT_QPA_PLATFORM asks for: the PDF is drawn offscreen.
  const char* platform = std::getenv("QT_QPA_PLATFORM");
  const std::string saved_platform = platform ? platform : "";
  const char* display = std::getenv("DISPLAY");
  const std::string saved_display = display ? display : "";
  ::setenv("QT_QPA_PLATFORM", "xcb", 1);
  ::unsetenv("DISPLAY");
  const auto again = run_cli("report " + quote(sample_project()) + " --format pdf -o " + quote(dir / "again"));
  platform ? ::setenv("QT_QPA_PLATFORM", saved_platform.c_str(), 1) : ::unsetenv("QT_QPA_PLATFORM");
  if (display) ::setenv("DISPLAY", saved_display.c_str(), 1);
  ASSERT_EQ(again.status, 0) << again.out;
  EXPECT_EQ(read_text(dir / "again").rfind("%PDF-", 0), 0u);
#else
  expect_error(r, 1, "PDF export needs mlopt built with Qt 6 (MLOPT_BUILD_GUI=ON); use --format html");
  EXPECT_FALSE(std::filesystem::exists(file));
#endif
}

TEST(CliReport, AProjectWithoutResultsSaysSo) {
  mlopt::test::ScratchDir dir;
  mlopt::Project project;
  project.model_path = mlopt::test::tiny_gpt2();
  project.input_spec = mlopt::InputSpec::parse("ids:int64[1,8]");
  project.save(dir / "empty.mlopt");
  const auto r = run_cli("report " + quote(dir / "empty.mlopt") + " -o " + quote(dir / "r.md"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("0 runs, 0 profiles"), std::string::npos) << r.out;
  const auto md = read_text(dir / "r.md");
  EXPECT_NE(md.find("No runs recorded"), std::string::npos) << md;
  EXPECT_NE(md.find("No profiles recorded"), std::string::npos) << md;
}

TEST(CliReport, BadProjectsAndOptions) {
  mlopt::test::ScratchDir dir;
  const auto out = quote(dir / "r.html");
  expect_error(run_cli("report " + quote(dir / "none.mlopt") + " -o " + out), 1, "does it exist?");
  mlopt::test::write_text(dir / "newer.mlopt", R"({"format": "mlopt-project", "schema_version": 99})");
  expect_error(run_cli("report " + quote(dir / "newer.mlopt") + " -o " + out), 1, "newer mlopt");
  mlopt::test::write_text(dir / "corrupt.mlopt", "{ not json");
  expect_error(run_cli("report " + quote(dir / "corrupt.mlopt") + " -o " + out), 1, "not valid JSON");
  EXPECT_FALSE(std::filesystem::exists(dir / "r.html"));

  const auto project = quote(sample_project());
  expect_error(run_cli("report " + project + " -o " + quote(dir / "r.txt")), 2, "--format html|pdf|json|csv|md");
  expect_error(run_cli("report " + project + " --format docx -o " + out), 2, "html, pdf, json, csv or md");
  EXPECT_EQ(run_cli("report " + project).status, 2);  // -o is required
  EXPECT_EQ(run_cli("report -o " + out).status, 2);   // so is the project
  expect_error(run_cli("report " + project + " -o " + quote(dir / "no-such-folder" / "r.html")), 1, "r.html");
  EXPECT_NE(run_cli("report --help").out.find("--format"), std::string::npos);
}

// A project copied from another machine (the GPU machine's profile) reports
// without its model file: a report never opens the model.
TEST(CliReport, ProjectWhoseModelIsElsewhere) {
  mlopt::test::ScratchDir dir;
  mlopt::test::write_text(dir / "m.pt", "placeholder: removed below");
  auto project = mlopt::Project::load(sample_project());
  project.model_path = dir / "m.pt";
  project.save(dir / "copied.mlopt");
  std::filesystem::remove(dir / "m.pt");
  const auto r = run_cli("report " + quote(dir / "copied.mlopt") + " -o " + quote(dir / "r.json"));
  ASSERT_EQ(r.status, 0) << r.out;
  const auto report = nlohmann::json::parse(read_text(dir / "r.json"));
  EXPECT_EQ(report.at("report_version"), 1);
  EXPECT_NE(report.dump().find("m.pt"), std::string::npos);
  EXPECT_NE(r.out.find("2 runs, 1 profile"), std::string::npos) << r.out;
}
