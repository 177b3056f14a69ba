// build_report: what a report holds of a project, from a real GPU profile
// (the gpt2 sample on an H100), hand-made CPU and GPU profiles, and runs.
#include <gtest/gtest.h>

#include <algorithm>

#include "mlopt/core/error.h"
#include "mlopt/report/format.h"
#include "mlopt/report/report.h"
#include "report_fixture.h"

using mlopt::report::build_report;

TEST(BuildReport, FromTheRecordedGpuProfile) {
  const auto& recorded = mlopt::test::recorded_gpu_profile();
  ASSERT_FALSE(recorded.ops.empty());
  ASSERT_FALSE(recorded.kernels.empty());
  const auto r = build_report(mlopt::test::gpu_project(), mlopt::test::fixed_options(10));
  EXPECT_EQ(r.version, 1);
  EXPECT_EQ(r.title, "mlopt report: gpt2.pt");
  EXPECT_EQ(r.generated_at, "2026-11-25T06:00:00Z");
  EXPECT_EQ(r.project_file, "/projects/gpt2.mlopt");
  EXPECT_EQ(r.device, "cuda");
  EXPECT_EQ(r.device_name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(r.dtype, "fp16");
  EXPECT_EQ(r.transforms, std::vector<std::string>{"flash_attention"});
  ASSERT_EQ(r.profiles.size(), 1u);

  const auto& p = r.profiles[0];
  EXPECT_EQ(p.label, "profile 1");
  EXPECT_EQ(p.time_basis, "gpu");
  EXPECT_EQ(p.device_name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(p.input_spec, "ids:int64[8,1024]");
  EXPECT_DOUBLE_EQ(p.iteration_ms, recorded.iteration_us / 1e3);
  EXPECT_DOUBLE_EQ(p.overhead, recorded.overhead);
  EXPECT_DOUBLE_EQ(p.gpu_busy_ms, recorded.gpu_busy_us / 1e3);
  EXPECT_EQ(p.peak_memory_bytes, recorded.peak_memory_bytes);
  EXPECT_DOUBLE_EQ(p.ceilings.matmul_tflops, recorded.ceilings.matmul_tflops);
  EXPECT_EQ(p.ceilings.measured_at, "2026-11-25T04:51:12Z");

  // Rankings: every category and module, in the profiler's order.
  ASSERT_EQ(p.categories.size(), recorded.categories.size());
  for (std::size_t i = 0; i < p.categories.size(); ++i) {
    EXPECT_EQ(p.categories[i].name, recorded.categories[i].category);
    EXPECT_DOUBLE_EQ(p.categories[i].time_ms, recorded.categories[i].time_us / 1e3);
    EXPECT_DOUBLE_EQ(p.categories[i].share, recorded.categories[i].share);
  }
  EXPECT_EQ(p.categories.front().name, "attention");
  EXPECT_EQ(p.categories.front().bound, "memory");
  // The top 10 modules, ops and kernels by GPU time, of how many there are.
  EXPECT_EQ(p.total_modules, static_cast<int>(recorded.modules.size()));
  ASSERT_EQ(p.modules.size(), std::min<std::size_t>(10, recorded.modules.size()));
  EXPECT_EQ(p.modules[0].name, recorded.modules[0].module_path);

  EXPECT_EQ(p.total_ops, static_cast<int>(recorded.ops.size()));
  EXPECT_EQ(p.total_kernels, static_cast<int>(recorded.kernels.size()));
  ASSERT_EQ(p.ops.size(), std::min<std::size_t>(10, recorded.ops.size()));
  ASSERT_EQ(p.kernels.size(), std::min<std::size_t>(10, recorded.kernels.size()));
  double longest_op = 0;
  for (const auto& o : recorded.ops) longest_op = std::max(longest_op, o.gpu_us / 1e3);
  EXPECT_DOUBLE_EQ(p.ops.front().time_ms, longest_op);
  for (std::size_t i = 1; i < p.ops.size(); ++i) EXPECT_GE(p.ops[i - 1].time_ms, p.ops[i].time_ms);
  for (std::size_t i = 1; i < p.kernels.size(); ++i) EXPECT_GE(p.kernels[i - 1].time_ms, p.kernels[i].time_ms);

  ASSERT_EQ(p.recommendations.size(), recorded.recommendations.size());
  EXPECT_EQ(p.recommendations.front().transform, "flash_attention");
  EXPECT_DOUBLE_EQ(p.recommendations.front().saving_ms, recorded.recommendations.front().expected_saving_us / 1e3);
  EXPECT_EQ(p.recommendations.front().modules.size(), 12u);

  // Memory over the iteration, from 0 ms on.
  ASSERT_EQ(p.memory.size(), recorded.memory.size());
  EXPECT_EQ(p.memory.front().time_ms, 0);
  for (std::size_t i = 1; i < p.memory.size(); ++i) EXPECT_GE(p.memory[i].time_ms, p.memory[i - 1].time_ms);
  EXPECT_NEAR(p.memory.back().time_ms,
              static_cast<double>(recorded.memory.back().time_ns - recorded.memory.front().time_ns) / 1e6, 1e-9);
}

TEST(BuildReport, RunsKeepTheirSamplesAndStatistics) {
  const auto project = mlopt::test::gpu_project();
  const auto r = build_report(project, mlopt::test::fixed_options());
  ASSERT_EQ(r.runs.size(), 2u);
  for (std::size_t i = 0; i < r.runs.size(); ++i) {
    const auto& run = r.runs[i];
    const auto& source = project.runs[i];
    EXPECT_EQ(run.label, "run " + std::to_string(i + 1));
    EXPECT_EQ(run.samples_ms, source.samples_ms);
    EXPECT_EQ(run.stats.count, 25);
    EXPECT_DOUBLE_EQ(run.stats.median_ms, source.stats.median_ms);
    EXPECT_DOUBLE_EQ(run.stats.max_ms, source.stats.max_ms);
    EXPECT_DOUBLE_EQ(run.q1_ms, mlopt::percentile(source.samples_ms, 25));
    EXPECT_DOUBLE_EQ(run.q3_ms, mlopt::percentile(source.samples_ms, 75));
    EXPECT_LE(run.stats.min_ms, run.q1_ms);
    EXPECT_LE(run.q1_ms, run.stats.median_ms);
    EXPECT_LE(run.stats.median_ms, run.q3_ms);
    EXPECT_LE(run.q3_ms, run.stats.max_ms);
    EXPECT_EQ(run.device_name, "NVIDIA H100 80GB HBM3");
    EXPECT_EQ(run.timer, "cuda-events");
  }
  EXPECT_GT(r.runs[0].stats.median_ms, r.runs[1].stats.median_ms);
}

TEST(BuildReport, CpuProfilesRankByCpuTimeAndHaveNoKernels) {
  const auto r = build_report(mlopt::test::cpu_project(), mlopt::test::fixed_options());
  ASSERT_EQ(r.profiles.size(), 2u);
  const auto& cpu = r.profiles[0];
  EXPECT_EQ(cpu.time_basis, "cpu");
  EXPECT_TRUE(cpu.kernels.empty());
  ASSERT_EQ(cpu.ops.size(), 4u);
  EXPECT_EQ(cpu.ops[0].name, "aten::matmul");
  EXPECT_DOUBLE_EQ(cpu.ops[0].time_ms, 2.5);  // CPU total, children included
  EXPECT_EQ(cpu.ops[3].module, "");           // the root module
  const auto& gpu = r.profiles[1];
  EXPECT_EQ(gpu.time_basis, "gpu");
  EXPECT_DOUBLE_EQ(gpu.ops[0].time_ms, 2.0);  // GPU time: matmul's kernels
  EXPECT_DOUBLE_EQ(gpu.ops[1].time_ms, 1.2);
  ASSERT_EQ(gpu.kernels.size(), 1u);
  EXPECT_EQ(gpu.kernels[0].name, "gemm_kernel");
  // The project is on the CPU: its device name comes from the CPU run.
  EXPECT_EQ(r.device, "cpu");
  EXPECT_EQ(r.device_name, "Test CPU");
  EXPECT_EQ(r.project_file, "/projects/gpt2.mlopt");
}

TEST(BuildReport, TopZeroKeepsEveryOp) {
  const auto all = build_report(mlopt::test::gpu_project(), mlopt::test::fixed_options(0));
  EXPECT_EQ(all.profiles[0].ops.size(), mlopt::test::recorded_gpu_profile().ops.size());
  EXPECT_THROW(build_report(mlopt::test::gpu_project(), mlopt::test::fixed_options(-1)), mlopt::UsageError);
}

TEST(BuildReport, AnEmptyProjectStillMakesAReport) {
  mlopt::Project project;
  project.model_path = "/models/new.pt";
  const auto r = build_report(project, {});
  EXPECT_TRUE(r.runs.empty());
  EXPECT_TRUE(r.profiles.empty());
  EXPECT_EQ(r.device_name, "");
  EXPECT_EQ(r.project_file, "");
  EXPECT_EQ(r.generated_at.size(), std::string("2026-11-25T04:51:12Z").size());  // now, ISO 8601
  EXPECT_EQ(r.mlopt_version, mlopt::report::mlopt_version());
}

TEST(BuildReport, AProfileThatDoesNotParseNamesItself) {
  auto project = mlopt::test::cpu_project();
  project.profiles.push_back(R"({"format": "mlopt-profile", "model": "m.pt"})");
  try {
    build_report(project, mlopt::test::fixed_options());
    FAIL() << "no error";
  } catch (const mlopt::ProjectError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("profile 3"), std::string::npos) << what;
    EXPECT_NE(what.find("/projects/gpt2.mlopt"), std::string::npos) << what;
    EXPECT_NE(what.find("Profile the model again"), std::string::npos) << what;
  }
}

TEST(ReportFormat, NamesAndExtensions) {
  using mlopt::report::Format;
  for (const auto f : {Format::Html, Format::Pdf, Format::Json, Format::Csv, Format::Markdown}) {
    EXPECT_EQ(mlopt::report::parse_format(mlopt::report::to_string(f)), f);
    EXPECT_EQ(mlopt::report::format_for_file("out/report" + mlopt::report::extension(f)), f);
  }
  EXPECT_EQ(mlopt::report::parse_format("Markdown"), Format::Markdown);
  EXPECT_EQ(mlopt::report::format_for_file("R.HTM"), Format::Html);
  EXPECT_FALSE(mlopt::report::format_for_file("report.txt").has_value());
  EXPECT_FALSE(mlopt::report::format_for_file("report").has_value());
  try {
    mlopt::report::parse_format("docx");
    FAIL() << "no error";
  } catch (const mlopt::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("html, pdf, json, csv or md"), std::string::npos) << e.what();
  }
}

TEST(ReportFormat, PdfNeedsQtOutsideViews) {
  const auto r = build_report(mlopt::test::cpu_project(), mlopt::test::fixed_options());
  try {
    mlopt::report::render(r, mlopt::report::Format::Pdf);
    FAIL() << "no error";
  } catch (const mlopt::Error& e) {
    EXPECT_EQ(std::string(e.what()), mlopt::report::kPdfNeedsQt);
  }
  EXPECT_FALSE(mlopt::report::render(r, mlopt::report::Format::Markdown).empty());
}
