// The mlopt binary end to end: help, make-model, inspect, run, projects, and
// one clear message with a non-zero status for every bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "mlopt/core/project.h"
#include "test_support.h"

using mlopt::test::quote;
using mlopt::test::run_cli;

namespace {

// One line of error, no backtrace, no TorchScript traceback.
void expect_clean_error(const mlopt::test::CliResult& r, int status, const std::string& part) {
  EXPECT_EQ(r.status, status) << r.out;
  EXPECT_NE(r.out.find("mlopt: error: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(part), std::string::npos) << "'" << part << "' not in: " << r.out;
  EXPECT_EQ(r.out.find("frame #"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("Traceback"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("terminate called"), std::string::npos) << r.out;
}

nlohmann::json json_of(const std::string& text) {
  try {
    return nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what() << " in: " << text;
    return {};
  }
}

}  // namespace

TEST(Cli, HelpForEveryCommand) {
  for (const char* cmd : {"", "inspect ", "run ", "profile ", "make-model ", "devices "}) {
    const auto r = run_cli(std::string(cmd) + "--help");
    EXPECT_EQ(r.status, 0) << cmd << r.out;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
  }
  EXPECT_NE(run_cli("run --help").out.find("--input"), std::string::npos);
}

TEST(Cli, NoOrUnknownCommandIsAUsageError) {
  EXPECT_EQ(run_cli("").status, 2);
  EXPECT_EQ(run_cli("frobnicate").status, 2);
  EXPECT_EQ(run_cli("run").status, 2);  // MODEL and --input are required
}

TEST(Cli, MakeModelThenInspectAndRun) {
  mlopt::test::ScratchDir dir;
  for (const char* arch : {"gpt2", "llama"}) {
    const auto file = dir / (std::string(arch) + ".pt");
    auto r = run_cli(std::string("make-model ") + arch + " --preset tiny --layers 3 -o " + quote(file));
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("wrote"), std::string::npos);

    r = run_cli("inspect " + quote(file));
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("Module tree"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("aten::softmax"), std::string::npos) << r.out;

    r = run_cli("inspect " + quote(file) + " --json");
    ASSERT_EQ(r.status, 0) << r.out;
    const auto info = json_of(r.out);
    EXPECT_EQ(info["op_histogram"]["aten::softmax"], 3) << arch;  // one per layer, --layers 3
    EXPECT_GT(info["modules"]["total_parameters"].get<int64_t>(), 0);

    r = run_cli("run " + quote(file) + " --input ids:int64[2,12] --iters 4 --warmup 1 --json");
    ASSERT_EQ(r.status, 0) << r.out;
    const auto result = json_of(r.out);
    EXPECT_EQ(result["samples_ms"].size(), 4u);
    EXPECT_EQ(result["tokens_per_forward"], 24);
    EXPECT_EQ(result["outputs"][0]["shape"][1], 12);
    EXPECT_TRUE(result["outputs"][0]["all_finite"].get<bool>());
  }
}

TEST(Cli, RunTextReportAndDtype) {
  const auto r = run_cli("run " + quote(mlopt::test::tiny_gpt2()) + " --input 'ids:int64[1,8]' --dtype bf16 --iters 3");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("median"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tokens/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bf16[1,8,"), std::string::npos) << r.out;
}

TEST(Cli, InspectWithShapes) {
  const auto r = run_cli("inspect " + quote(mlopt::test::tiny_gpt2()) + " --input 'ids:int64[2,5]' --nodes");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("transformer.h.1.attn"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("fp32[2,4,5,5]"), std::string::npos) << r.out;  // attention scores of the tiny preset
}

TEST(Cli, RunRecordsIntoAProject) {
  mlopt::test::ScratchDir dir;
  const auto project = dir / "p.mlopt";
  for (int i = 0; i < 2; ++i) {
    const auto r = run_cli("run " + quote(mlopt::test::tiny_gpt2()) + " --input 'ids:int64[1,4]' --iters 2 --project " +
                           quote(project));
    ASSERT_EQ(r.status, 0) << r.out;
  }
  const auto p = mlopt::Project::load(project);
  EXPECT_EQ(p.runs.size(), 2u);
  EXPECT_EQ(p.input_spec.to_string(), "ids:int64[1,4]");
  EXPECT_EQ(p.model_path.filename(), "tiny-gpt2.pt");
}

TEST(Cli, BadModels) {
  mlopt::test::ScratchDir dir;
  mlopt::test::write_text(dir / "text.pt", "hello");
  expect_clean_error(run_cli("inspect " + quote(dir / "text.pt")), 1, "not a TorchScript file");
  expect_clean_error(run_cli("inspect " + quote(dir / "none.pt")), 1, "does not exist");
  expect_clean_error(run_cli("run " + quote(dir.path()) + " --input 'ids:int64[1,4]'"), 1, "is a directory");
  const auto whole = mlopt::test::read_text(mlopt::test::tiny_gpt2());
  mlopt::test::write_text(dir / "cut.pt", whole.substr(0, whole.size() / 3));
  expect_clean_error(run_cli("inspect " + quote(dir / "cut.pt")), 1, "truncated");
}

TEST(Cli, BadSpecs) {
  const auto model = quote(mlopt::test::tiny_gpt2());
  expect_clean_error(run_cli("run " + model + " --input 'ids:int64[1,'"), 1, "bad input spec");
  expect_clean_error(run_cli("run " + model + " --input 'ids:int64[1,4];m:bool[1,4]'"), 1, "takes 1 input");
  expect_clean_error(run_cli("run " + model + " --input 'ids:fp32[1,4]'"), 1, "ids:fp32[1,4]");
  expect_clean_error(run_cli("run " + model + " --input 'ids:int64[4]'"), 1, "ranks");
  expect_clean_error(run_cli("inspect " + model + " --input 'ids:fp16[1,4]'"), 1, "ids:fp16[1,4]");
}

TEST(Cli, BadOptions) {
  mlopt::test::ScratchDir dir;
  const auto model = quote(mlopt::test::tiny_gpt2());
  expect_clean_error(run_cli("make-model gpt2 --preset huge -o " + quote(dir / "m.pt")), 2, "huge");
  expect_clean_error(run_cli("make-model mamba -o " + quote(dir / "m.pt")), 2, "mamba");
  expect_clean_error(run_cli("make-model gpt2 --preset tiny --heads 5 -o " + quote(dir / "m.pt")), 2, "head");
  expect_clean_error(run_cli("run " + model + " --input 'ids:int64[1,4]' --dtype int8"), 2, "fp16");
  expect_clean_error(run_cli("run " + model + " --input 'ids:int64[1,4]' --device tpu"), 2, "cuda");
  EXPECT_FALSE(std::filesystem::exists(dir / "m.pt"));
}

TEST(Cli, CudaOnAMachineWithoutOne) {
  const auto devices = run_cli("devices");
  EXPECT_EQ(devices.status, 0) << devices.out;
  if (devices.out.find("cuda:0") != std::string::npos) GTEST_SKIP() << "a GPU is present";
  expect_clean_error(run_cli("run " + quote(mlopt::test::tiny_gpt2()) + " --input 'ids:int64[1,4]' --device cuda"), 1,
                     "--device cpu");
}

TEST(Cli, NewerProjectIsRefusedAndKept) {
  mlopt::test::ScratchDir dir;
  const auto project = dir / "p.mlopt";
  mlopt::test::write_text(project, R"({"format": "mlopt-project", "schema_version": 99})");
  expect_clean_error(run_cli("run " + quote(mlopt::test::tiny_gpt2()) + " --input 'ids:int64[1,4]' --iters 1 --project " +
                             quote(project)),
                     1, "newer mlopt");
  EXPECT_EQ(mlopt::test::read_text(project), R"({"format": "mlopt-project", "schema_version": 99})");
}

TEST(Cli, ProfileWritesJsonTraceAndProject) {
  mlopt::test::ScratchDir dir;
  const auto r = run_cli("profile " + quote(mlopt::test::tiny_gpt2()) + " --input 'ids:int64[2,16]' --iters 2 --warmup 1" +
                         " --json " + quote(dir / "p.json") + " --trace " + quote(dir / "t.json") + " --project " +
                         quote(dir / "p.mlopt"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("Where the time goes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("attention"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("overhead"), std::string::npos) << r.out;
  const auto profile = json_of(mlopt::test::read_text(dir / "p.json"));
  EXPECT_EQ(profile["format"], "mlopt-profile");
  EXPECT_FALSE(profile["categories"].empty());
  const auto trace = json_of(mlopt::test::read_text(dir / "t.json"));
  EXPECT_FALSE(trace["traceEvents"].empty());
  const auto project = mlopt::Project::load(dir / "p.mlopt");
  ASSERT_EQ(project.profiles.size(), 1u);
  EXPECT_EQ(json_of(project.profiles[0])["input_spec"], "ids:int64[2,16]");
}

TEST(Cli, ProfileBadInputs) {
  expect_clean_error(run_cli("profile " + quote(mlopt::test::tiny_gpt2()) + " --input 'ids:fp32[1,4]'"), 1,
                     "ids:fp32[1,4]");
  const auto devices = run_cli("devices");
  if (devices.out.find("cuda:0") == std::string::npos) {
    expect_clean_error(
        run_cli("profile " + quote(mlopt::test::tiny_gpt2()) + " --input 'ids:int64[1,4]' --device cuda"), 1,
        "--device cpu");
  }
}

// Tensor and sequence parallelism from the command line, on CPU ranks.
TEST(CliParallel, TensorParallelRunPrintsThePlanVerifiesAndTimes) {
  const auto model = mlopt::test::quote(mlopt::test::tiny_gpt2());
  const auto r = run_cli("run " + model + " --input 'ids:int64[2,8]' --tensor-parallel 2 --sequence-parallel --iters 2");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("Tensor-parallel plan: 2 ranks"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Sequence parallel: 4 all-reduces -> reduce-scatter"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Weights per GPU"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tensor_parallel: applied"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2 ranks, rank 0's timing"), std::string::npos) << r.out;
}

TEST(CliParallel, RingAttentionRunSplitsTheSequence) {
  const auto model = mlopt::test::quote(mlopt::test::tiny_gpt2());
  const auto r = run_cli("run " + model + " --input 'ids:int64[1,16]' --ring-attention 2 --iters 2");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("the sequence of 16 tokens is split 2 ways, 8 tokens per rank"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ring_attention: applied"), std::string::npos) << r.out;
  const auto both = run_cli("run " + model + " --input 'ids:int64[1,16]' --ring-attention 2 --tensor-parallel 2");
  EXPECT_EQ(both.status, 2) << both.out;
  EXPECT_NE(both.out.find("not combined"), std::string::npos) << both.out;
}

TEST(CliParallel, ImpossibleParallelRequestsFailWithOneLine) {
  const auto model = mlopt::test::quote(mlopt::test::tiny_gpt2());
  auto r = run_cli("run " + model + " --input 'ids:int64[1,8]' --sequence-parallel");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("--sequence-parallel needs --tensor-parallel"), std::string::npos) << r.out;
  // 4 heads do not split 3 ways, nor d_ff 256.
  r = run_cli("run " + model + " --input 'ids:int64[1,8]' --tensor-parallel 3");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("nothing to split over 3 ranks"), std::string::npos) << r.out;
  // Processes talk over NCCL: a CPU run is refused by every rank, and the
  // launcher reports the failing rank.
  r = run_cli("run " + model + " --input 'ids:int64[1,8]' --nproc-per-node 2 --master-port 29517");
  EXPECT_EQ(r.status, 2) << r.out;
  // Whichever rank fails first is reported; the others are stopped.
  EXPECT_NE(r.out.find("] mlopt: error: a multi-process run communicates over NCCL and needs --device cuda"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("mlopt run: rank "), std::string::npos) << r.out;
}
