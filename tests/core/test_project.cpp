// Project files: round trip, relative model paths, atomic saves, bad files.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "mlopt/core/error.h"
#include "mlopt/core/atomic_file.h"
#include "mlopt/core/project.h"
#include "test_support.h"

using namespace mlopt;

namespace {

Project sample_project(const std::filesystem::path& model) {
  Project p;
  p.model_path = model;
  p.input_spec = InputSpec::parse("ids:int64[8,1024]=0..50257");
  p.device = parse_device("cuda:1");
  p.dtype = DType::BF16;
  p.transforms = {"flash_attention", "fused_mlp"};
  RunResult r;
  r.model_path = model.string();
  r.spec = p.input_spec;
  r.device = p.device;
  r.device_name = "NVIDIA H100 80GB HBM3";
  r.dtype = DType::BF16;
  r.timer = "cuda-events";
  r.warmup = 3;
  r.samples_ms = {1.25, 1.5, 1.125};
  r.stats = summarize(r.samples_ms);
  r.tokens_per_forward = 8192;
  r.tokens_per_second = 8192 / 1.25e-3;
  r.outputs = {{"output", {8, 1024, 50257}, DType::BF16, true}};
  r.torch_version = "2.11.0";
  r.timestamp = "2026-11-25T10:00:00Z";
  r.peak_memory_bytes = int64_t{3} << 30;
  p.runs.push_back(r);
  return p;
}

std::string project_error(const std::filesystem::path& file) {
  try {
    Project::load(file);
  } catch (const ProjectError& e) {
    return e.what();
  }
  ADD_FAILURE() << "loaded " << file;
  return {};
}

}  // namespace

TEST(Project, RoundTrip) {
  test::ScratchDir dir;
  std::filesystem::create_directories(dir / "models");
  test::write_text(dir / "models/m.pt", "x");
  const auto original = sample_project(dir / "models/m.pt");
  original.save(dir / "p.mlopt");

  const auto text = test::read_text(dir / "p.mlopt");
  EXPECT_NE(text.find("\"model\": \"models/m.pt\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"schema_version\": 1"), std::string::npos);

  const auto loaded = Project::load(dir / "p.mlopt");
  EXPECT_EQ(loaded.model_path, std::filesystem::absolute(dir / "models/m.pt").lexically_normal());
  EXPECT_EQ(loaded.input_spec, original.input_spec);
  EXPECT_EQ(loaded.device, original.device);
  EXPECT_EQ(loaded.dtype, original.dtype);
  EXPECT_EQ(loaded.transforms, original.transforms);
  ASSERT_EQ(loaded.runs.size(), 1u);
  EXPECT_EQ(loaded.runs[0].samples_ms, original.runs[0].samples_ms);
  EXPECT_DOUBLE_EQ(loaded.runs[0].stats.median_ms, original.runs[0].stats.median_ms);
  EXPECT_EQ(loaded.runs[0].outputs, original.runs[0].outputs);
  EXPECT_EQ(loaded.runs[0].device_name, original.runs[0].device_name);
}

TEST(Project, MovesWithItsModel) {
  test::ScratchDir dir;
  std::filesystem::create_directories(dir / "a");
  test::write_text(dir / "a/m.pt", "x");
  sample_project(dir / "a/m.pt").save(dir / "a/p.mlopt");
  std::filesystem::rename(dir / "a", dir / "b");
  EXPECT_EQ(Project::load(dir / "b/p.mlopt").model_path.filename(), "m.pt");
  EXPECT_EQ(Project::load(dir / "b/p.mlopt").model_path.parent_path().filename(), "b");
}

TEST(Project, SaveReplacesAtomicallyAndLeavesNoTemporaryFile) {
  test::ScratchDir dir;
  test::write_text(dir / "m.pt", "x");
  auto p = sample_project(dir / "m.pt");
  p.save(dir / "p.mlopt");
  p.transforms = {"cuda_graphs"};
  p.save(dir / "p.mlopt");
  EXPECT_EQ(Project::load(dir / "p.mlopt").transforms, std::vector<std::string>{"cuda_graphs"});
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 2);  // m.pt and p.mlopt
}

TEST(Project, FailedSaveKeepsTheOldFile) {
  test::ScratchDir dir;
  test::write_text(dir / "m.pt", "x");
  auto p = sample_project(dir / "m.pt");
  p.save(dir / "p.mlopt");
  const auto before = test::read_text(dir / "p.mlopt");
  // A folder where the temporary file would go makes the write fail.
  EXPECT_THROW(p.save(dir / "missing-folder/p.mlopt"), IoError);
  EXPECT_EQ(test::read_text(dir / "p.mlopt"), before);
}

TEST(Project, NewerSchemaVersion) {
  test::ScratchDir dir;
  test::write_text(dir / "m.pt", "x");
  sample_project(dir / "m.pt").save(dir / "p.mlopt");
  auto text = test::read_text(dir / "p.mlopt");
  text.replace(text.find("\"schema_version\": 1"), 19, "\"schema_version\": 7");
  test::write_text(dir / "p.mlopt", text);
  const auto msg = project_error(dir / "p.mlopt");
  EXPECT_NE(msg.find("schema version 7"), std::string::npos) << msg;
  EXPECT_NE(msg.find("newer mlopt"), std::string::npos) << msg;
  EXPECT_EQ(test::read_text(dir / "p.mlopt"), text);  // untouched
}

TEST(Project, MalformedJson) {
  test::ScratchDir dir;
  test::write_text(dir / "p.mlopt", "{\"format\": \"mlopt-project\", \"schema_version\": 1,");
  EXPECT_NE(project_error(dir / "p.mlopt").find("not valid JSON"), std::string::npos);
}

TEST(Project, NotAProject) {
  test::ScratchDir dir;
  test::write_text(dir / "p.mlopt", "[1, 2, 3]");
  EXPECT_NE(project_error(dir / "p.mlopt").find("not an mlopt project"), std::string::npos);
}

TEST(Project, MissingField) {
  test::ScratchDir dir;
  test::write_text(dir / "p.mlopt", R"({"format": "mlopt-project", "schema_version": 1, "model": "m.pt"})");
  EXPECT_NE(project_error(dir / "p.mlopt").find("missing a field"), std::string::npos);
}

TEST(Project, MissingModel) {
  test::ScratchDir dir;
  test::write_text(dir / "m.pt", "x");
  sample_project(dir / "m.pt").save(dir / "p.mlopt");
  std::filesystem::remove(dir / "m.pt");
  const auto msg = project_error(dir / "p.mlopt");
  EXPECT_NE(msg.find("m.pt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
  // A reader that never opens the model still gets everything else.
  const auto p = Project::load(dir / "p.mlopt", Project::ModelFile::MayBeMissing);
  EXPECT_EQ(p.model_path.filename(), "m.pt");
  EXPECT_EQ(p.runs.size(), sample_project(dir / "m.pt").runs.size());
}

// Saved before any input spec was given: the file loads back, spec empty.
TEST(Project, WithoutAnInputSpecRoundTrips) {
  test::ScratchDir dir;
  test::write_text(dir / "m.pt", "x");
  Project p;
  p.model_path = dir / "m.pt";
  p.save(dir / "p.mlopt");
  const auto loaded = Project::load(dir / "p.mlopt");
  EXPECT_TRUE(loaded.input_spec.tensors.empty());
  EXPECT_EQ(loaded.model_path, p.model_path);
}

TEST(Project, MissingProjectFile) {
  test::ScratchDir dir;
  EXPECT_NE(project_error(dir / "none.mlopt").find("cannot open"), std::string::npos);
}

TEST(RunResultJson, RoundTrip) {
  test::ScratchDir dir;
  const auto r = sample_project(dir / "m.pt").runs[0];
  const auto back = run_result_from_json(to_json(r));
  EXPECT_EQ(back.samples_ms, r.samples_ms);
  EXPECT_EQ(back.spec, r.spec);
  EXPECT_EQ(back.timer, r.timer);
  EXPECT_EQ(back.peak_memory_bytes, r.peak_memory_bytes);
  EXPECT_THROW(run_result_from_json("{"), UsageError);
}

// Not measured (a CPU run) is written as null and read back as empty; a run
// from before the field existed has none.
TEST(RunResultJson, PeakMemoryMayBeAbsent) {
  test::ScratchDir dir;
  auto r = sample_project(dir / "m.pt").runs[0];
  r.peak_memory_bytes.reset();
  const auto text = to_json(r);
  EXPECT_NE(text.find("\"peak_memory_bytes\": null"), std::string::npos) << text;
  EXPECT_FALSE(run_result_from_json(text).peak_memory_bytes.has_value());
  auto j = nlohmann::json::parse(text);
  j.erase("peak_memory_bytes");
  EXPECT_FALSE(run_result_from_json(j.dump()).peak_memory_bytes.has_value());
}

TEST(AtomicFile, AFailingWriterLeavesTheOldFileAndNoTemporary) {
  test::ScratchDir dir;
  write_file_atomically(dir / "f.txt", "old");
  EXPECT_THROW(write_atomically(dir / "f.txt",
                                [](const std::filesystem::path& temp) {
                                  test::write_text(temp, "half");
                                  throw std::runtime_error("disk full");
                                }),
               IoError);
  EXPECT_EQ(test::read_text(dir / "f.txt"), "old");
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1);
  write_atomically(dir / "sub/dir/g.txt", [](const std::filesystem::path& temp) { test::write_text(temp, "new"); },
                   /*create_parents=*/true);
  EXPECT_EQ(test::read_text(dir / "sub/dir/g.txt"), "new");
}

TEST(Project, KeepsProfilesAsJson) {
  test::ScratchDir dir;
  test::write_text(dir / "m.pt", "x");
  auto p = sample_project(dir / "m.pt");
  p.profiles = {R"({"format":"mlopt-profile","iteration_us":12.5})"};
  p.save(dir / "p.mlopt");
  const auto loaded = Project::load(dir / "p.mlopt");
  ASSERT_EQ(loaded.profiles.size(), 1u);
  EXPECT_NE(loaded.profiles[0].find("\"iteration_us\":12.5"), std::string::npos) << loaded.profiles[0];
  // A project from before profiles existed still opens.
  auto text = test::read_text(dir / "p.mlopt");
  const auto at = text.find("\"profiles\"");
  ASSERT_NE(at, std::string::npos);
  test::write_text(dir / "old.mlopt", R"({"format": "mlopt-project", "schema_version": 1, "model": "m.pt",
    "input_spec": "ids:int64[1,4]", "device": "cpu", "dtype": "fp32", "transforms": [], "runs": []})");
  EXPECT_TRUE(Project::load(dir / "old.mlopt").profiles.empty());
}
