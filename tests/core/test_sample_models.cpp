// Tests of the sample-model generator: the files load, freeze and run, the
// models are causal and seeded, counts and dtypes are right, module paths
// read like HF's, and bad requests throw typed errors.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/script.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "mlopt/core/error.h"
#include "mlopt/core/sample_models.h"
#include "test_support.h"

namespace {

namespace fs = std::filesystem;
using mlopt::DType;
using mlopt::samples::Gpt2Config;
using mlopt::samples::LlamaConfig;

using TempDir = mlopt::test::ScratchDir;

torch::jit::Module load(const fs::path& file) {
  auto module = torch::jit::load(file.string());
  module.eval();
  return module;
}

// Token ids in [0, vocab) from a fixed seed, so a failure reproduces.
at::Tensor random_ids(int64_t vocab, int64_t batch, int64_t length, uint64_t seed = 7) {
  auto generator = at::detail::createCPUGenerator(seed);
  return torch::randint(0, vocab, {batch, length}, generator, torch::kLong);
}

// GPT-2 returns the logits, Llama a {"logits": ...} dict.
at::Tensor logits(torch::jit::Module& module, const at::Tensor& ids) {
  torch::NoGradGuard no_grad;
  const auto out = module.forward({ids});
  if (out.isTensor()) return out.toTensor();
  return out.toGenericDict().at("logits").toTensor();
}

int64_t unique_parameter_elements(const torch::jit::Module& module) {
  std::set<const void*> seen;
  int64_t count = 0;
  for (const auto& p : module.named_parameters()) {
    if (seen.insert(p.value.data_ptr()).second) count += p.value.numel();
  }
  return count;
}

at::Tensor parameter(const torch::jit::Module& module, const std::string& name) {
  for (const auto& p : module.named_parameters()) {
    if (p.name == name) return p.value;
  }
  ADD_FAILURE() << "no parameter " << name;
  return {};
}

at::Tensor buffer(const torch::jit::Module& module, const std::string& name) {
  for (const auto& b : module.named_buffers()) {
    if (b.name == name) return b.value;
  }
  ADD_FAILURE() << "no buffer " << name;
  return {};
}

// Module path of a node, as graph analysis reads it from the inlined call
// stack: the instance names of the calls, outermost first.
std::string module_path(const torch::jit::Node* node) {
  std::string path;
  if (const auto stack = node->callstack()) {
    for (const auto& entry : (*stack)->vec()) {
      if (const auto& info = std::get<2>(entry)) {
        path += (path.empty() ? "" : ".") + info->instance_name();
      }
    }
  }
  return path;
}

std::set<std::string> paths_of(const torch::jit::Module& module, const char* op) {
  auto graph = module.get_method("forward").graph()->copy();
  torch::jit::Inline(*graph);
  std::set<std::string> paths;
  for (const auto* node : graph->nodes()) {
    if (node->kind() == c10::Symbol::fromQualString(op)) paths.insert(module_path(node));
  }
  return paths;
}

// Every check that holds for both architectures' tiny presets.
void expect_runs_and_is_causal(torch::jit::Module& module, int64_t vocab) {
  const auto ids = random_ids(vocab, 2, 7);
  const auto out = logits(module, ids);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 7, vocab}));
  EXPECT_TRUE(out.isfinite().all().item<bool>());
  EXPECT_GT(out.std().item<double>(), 1e-3) << "logits should vary";

  auto changed_ids = ids.clone();
  changed_ids.select(1, 6).add_(1).remainder_(vocab);
  const auto changed = logits(module, changed_ids);
  EXPECT_TRUE(torch::allclose(out.slice(1, 0, 6), changed.slice(1, 0, 6), 1e-5, 1e-6))
      << "changing the last token must not change earlier positions";
  EXPECT_FALSE(torch::allclose(out.select(1, 6), changed.select(1, 6), 1e-5, 1e-6))
      << "changing the last token must change the last position";
}

void expect_freezes_and_matches(const torch::jit::Module& module, int64_t vocab) {
  auto frozen = torch::jit::freeze(module);
  auto original = module.clone();
  const auto ids = random_ids(vocab, 1, 5, 11);
  EXPECT_TRUE(torch::allclose(logits(frozen, ids), logits(original, ids), 1e-5, 1e-6));
}

void expect_same_parameters(const torch::jit::Module& a, const torch::jit::Module& b, bool same) {
  const auto pa = a.named_parameters();
  const auto pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  bool all_equal = true;
  for (auto ia = pa.begin(), ib = pb.begin(); ia != pa.end(); ++ia, ++ib) {
    ASSERT_EQ((*ia).name, (*ib).name);
    all_equal = all_equal && torch::equal((*ia).value, (*ib).value);
  }
  EXPECT_EQ(all_equal, same);
}

// ---------------------------------------------------------------- GPT-2

class Gpt2Sample : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>();
    config_ = mlopt::samples::gpt2_preset("tiny");
    config_.seed = 1;
    file_ = dir_->path() / "gpt2-tiny.pt";
    mlopt::samples::write_gpt2(config_, file_);
  }
  static void TearDownTestSuite() { dir_.reset(); }

  static std::unique_ptr<TempDir> dir_;
  static Gpt2Config config_;
  static fs::path file_;
};
std::unique_ptr<TempDir> Gpt2Sample::dir_;
Gpt2Config Gpt2Sample::config_;
fs::path Gpt2Sample::file_;

TEST_F(Gpt2Sample, TinyIsSmall) { EXPECT_LT(fs::file_size(file_), 1u << 20); }

TEST_F(Gpt2Sample, LoadsAndFreezes) { expect_freezes_and_matches(load(file_), config_.vocab); }

TEST_F(Gpt2Sample, RunsAndIsCausal) {
  auto module = load(file_);
  expect_runs_and_is_causal(module, config_.vocab);
}

TEST_F(Gpt2Sample, ParameterCountMatchesFile) {
  EXPECT_EQ(mlopt::samples::parameter_count(config_), unique_parameter_elements(load(file_)));
  EXPECT_EQ(mlopt::samples::parameter_count(mlopt::samples::gpt2_preset("gpt2")), 124439808);
}

TEST_F(Gpt2Sample, LmHeadIsTiedAfterLoading) {
  const auto module = load(file_);
  EXPECT_EQ(parameter(module, "lm_head.weight").data_ptr(),
            parameter(module, "transformer.wte.weight").data_ptr());
}

TEST_F(Gpt2Sample, NamesFollowHf) {
  const auto module = load(file_);
  EXPECT_EQ(parameter(module, "transformer.h.1.attn.c_attn.weight").sizes(),
            (std::vector<int64_t>{64, 192}));
  EXPECT_EQ(parameter(module, "transformer.h.0.mlp.c_fc.weight").sizes(),
            (std::vector<int64_t>{64, 256}));
  EXPECT_EQ(buffer(module, "transformer.h.0.attn.bias").scalar_type(), torch::kBool);
  EXPECT_EQ(paths_of(module, "aten::addmm"),
            (std::set<std::string>{"transformer.h.0.attn.c_attn", "transformer.h.0.attn.c_proj",
                                   "transformer.h.0.mlp.c_fc", "transformer.h.0.mlp.c_proj",
                                   "transformer.h.1.attn.c_attn", "transformer.h.1.attn.c_proj",
                                   "transformer.h.1.mlp.c_fc", "transformer.h.1.mlp.c_proj"}));
  EXPECT_EQ(paths_of(module, "aten::softmax"),
            (std::set<std::string>{"transformer.h.0.attn", "transformer.h.1.attn"}));
}

TEST_F(Gpt2Sample, SeedFixesWeights) {
  const auto same = dir_->path() / "same.pt";
  const auto other = dir_->path() / "other.pt";
  mlopt::samples::write_gpt2(config_, same);
  auto changed = config_;
  changed.seed = 2;
  mlopt::samples::write_gpt2(changed, other);
  expect_same_parameters(load(file_), load(same), true);
  expect_same_parameters(load(file_), load(other), false);
}

TEST_F(Gpt2Sample, HalfConvertsWeightsAndKeepsBoolMask) {
  for (const auto dtype : {DType::F16, DType::BF16}) {
    const auto file = dir_->path() / "half.pt";
    mlopt::samples::write_gpt2(config_, file, dtype);
    const auto module = load(file);
    const auto expected = dtype == DType::F16 ? torch::kHalf : torch::kBFloat16;
    EXPECT_EQ(parameter(module, "transformer.h.0.attn.c_attn.weight").scalar_type(), expected);
    EXPECT_EQ(parameter(module, "transformer.wte.weight").scalar_type(), expected);
    EXPECT_EQ(buffer(module, "transformer.h.0.attn.bias").scalar_type(), torch::kBool);
    EXPECT_EQ(parameter(module, "lm_head.weight").data_ptr(),
              parameter(module, "transformer.wte.weight").data_ptr());
  }
}

TEST_F(Gpt2Sample, SdpaMatchesExplicitOrIsRefused) {
  auto config = config_;
  config.sdpa = true;
  const auto file = dir_->path() / "sdpa.pt";
  if (!mlopt::samples::libtorch_has_sdpa()) {
    EXPECT_THROW(mlopt::samples::write_gpt2(config, file), mlopt::UsageError);
    EXPECT_FALSE(fs::exists(file));
    return;
  }
  mlopt::samples::write_gpt2(config, file);
  auto sdpa = load(file);
  auto plain = load(file_);
  const auto ids = random_ids(config.vocab, 2, 7);
  EXPECT_TRUE(torch::allclose(logits(sdpa, ids), logits(plain, ids), 1e-5, 1e-4));
}

// ---------------------------------------------------------------- Llama

class LlamaSample : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>();
    config_ = mlopt::samples::llama_preset("tiny");
    config_.seed = 1;
    file_ = dir_->path() / "llama-tiny.pt";
    mlopt::samples::write_llama(config_, file_);
  }
  static void TearDownTestSuite() { dir_.reset(); }

  static std::unique_ptr<TempDir> dir_;
  static LlamaConfig config_;
  static fs::path file_;
};
std::unique_ptr<TempDir> LlamaSample::dir_;
LlamaConfig LlamaSample::config_;
fs::path LlamaSample::file_;

TEST_F(LlamaSample, TinyIsSmall) { EXPECT_LT(fs::file_size(file_), 1u << 20); }

TEST_F(LlamaSample, LoadsAndFreezes) { expect_freezes_and_matches(load(file_), config_.vocab); }

TEST_F(LlamaSample, RunsAndIsCausal) {
  auto module = load(file_);
  expect_runs_and_is_causal(module, config_.vocab);
}

TEST_F(LlamaSample, ParameterCountMatchesFile) {
  EXPECT_EQ(mlopt::samples::parameter_count(config_), unique_parameter_elements(load(file_)));
  // TinyLlama-1.1B's published count.
  EXPECT_EQ(mlopt::samples::parameter_count(mlopt::samples::llama_preset("1b")), 1100048384);
}

TEST_F(LlamaSample, NamesFollowHf) {
  const auto module = load(file_);
  EXPECT_EQ(parameter(module, "model.layers.1.self_attn.k_proj.weight").sizes(),
            (std::vector<int64_t>{32, 64}));  // 2 kv heads of 16
  EXPECT_EQ(parameter(module, "model.layers.0.mlp.gate_proj.weight").sizes(),
            (std::vector<int64_t>{176, 64}));
  EXPECT_NE(parameter(module, "lm_head.weight").data_ptr(),
            parameter(module, "model.embed_tokens.weight").data_ptr());
  const auto paths = paths_of(module, "aten::linear");
  EXPECT_EQ(paths.size(), 2u * 7u + 1u);
  EXPECT_TRUE(paths.count("model.layers.1.self_attn.o_proj"));
  EXPECT_TRUE(paths.count("model.layers.0.mlp.down_proj"));
  EXPECT_TRUE(paths.count("lm_head"));
}

TEST_F(LlamaSample, SeedFixesWeights) {
  const auto same = dir_->path() / "same.pt";
  const auto other = dir_->path() / "other.pt";
  mlopt::samples::write_llama(config_, same);
  auto changed = config_;
  changed.seed = 2;
  mlopt::samples::write_llama(changed, other);
  expect_same_parameters(load(file_), load(same), true);
  expect_same_parameters(load(file_), load(other), false);
}

TEST_F(LlamaSample, Bf16ConvertsWeightsAndRuns) {
  const auto file = dir_->path() / "bf16.pt";
  mlopt::samples::write_llama(config_, file, DType::BF16);
  auto module = load(file);
  EXPECT_EQ(parameter(module, "model.layers.0.self_attn.q_proj.weight").scalar_type(),
            torch::kBFloat16);
  EXPECT_EQ(buffer(module, "model.rotary_emb.cos_cached").scalar_type(), torch::kBFloat16);
  const auto ids = random_ids(config_.vocab, 2, 7);
  const auto out = logits(module, ids);
  EXPECT_EQ(out.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(out.isfinite().all().item<bool>());
  auto fp32 = load(file_);
  EXPECT_TRUE(torch::allclose(out.to(torch::kFloat32), logits(fp32, ids), 0.05, 0.05));
}

TEST_F(LlamaSample, MultiAndSingleKvHeadsRun) {
  for (const int64_t kv_heads : {config_.heads, int64_t{1}}) {
    auto config = config_;
    config.kv_heads = kv_heads;
    const auto file = dir_->path() / ("kv" + std::to_string(kv_heads) + ".pt");
    mlopt::samples::write_llama(config, file);
    auto module = load(file);
    EXPECT_EQ(mlopt::samples::parameter_count(config), unique_parameter_elements(module));
    expect_runs_and_is_causal(module, config.vocab);
  }
}

TEST_F(LlamaSample, SdpaMatchesExplicitOrIsRefused) {
  auto config = config_;
  config.sdpa = true;
  const auto file = dir_->path() / "sdpa.pt";
  if (!mlopt::samples::libtorch_has_sdpa()) {
    EXPECT_THROW(mlopt::samples::write_llama(config, file), mlopt::UsageError);
    EXPECT_FALSE(fs::exists(file));
    return;
  }
  mlopt::samples::write_llama(config, file);
  auto sdpa = load(file);
  auto plain = load(file_);
  const auto ids = random_ids(config.vocab, 2, 7);
  EXPECT_TRUE(torch::allclose(logits(sdpa, ids), logits(plain, ids), 1e-5, 1e-4));
}

// ---------------------------------------------------------------- errors

template <typename Write>
void expect_usage_error(Write write, const std::string& needle) {
  try {
    write();
    ADD_FAILURE() << "expected mlopt::UsageError mentioning '" << needle << "'";
  } catch (const mlopt::UsageError& error) {
    EXPECT_NE(std::string(error.what()).find(needle), std::string::npos) << error.what();
  }
}

TEST(SampleModels, InvalidGpt2ConfigsThrow) {
  TempDir dir;
  const auto file = dir.path() / "bad.pt";
  const auto tiny = mlopt::samples::gpt2_preset("tiny");
  auto c = tiny;
  c.heads = 5;
  expect_usage_error([&] { mlopt::samples::write_gpt2(c, file); }, "divisible");
  c = tiny;
  c.layers = 0;
  expect_usage_error([&] { mlopt::samples::write_gpt2(c, file); }, "layers");
  c = tiny;
  c.vocab = -1;
  expect_usage_error([&] { mlopt::samples::write_gpt2(c, file); }, "vocab");
  expect_usage_error([&] { mlopt::samples::write_gpt2(tiny, file, DType::I64); }, "int64");
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(SampleModels, InvalidLlamaConfigsThrow) {
  TempDir dir;
  const auto file = dir.path() / "bad.pt";
  const auto tiny = mlopt::samples::llama_preset("tiny");
  auto c = tiny;
  c.heads = 5;
  expect_usage_error([&] { mlopt::samples::write_llama(c, file); }, "divisible by heads");
  c = tiny;
  c.kv_heads = 3;
  expect_usage_error([&] { mlopt::samples::write_llama(c, file); }, "kv_heads");
  c = tiny;
  c.dim = 12;  // head_dim 3
  expect_usage_error([&] { mlopt::samples::write_llama(c, file); }, "even");
  c = tiny;
  c.ffn_dim = 0;
  expect_usage_error([&] { mlopt::samples::write_llama(c, file); }, "ffn_dim");
  c = tiny;
  c.norm_eps = 0.0;
  expect_usage_error([&] { mlopt::samples::write_llama(c, file); }, "norm_eps");
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(SampleModels, PresetsAreListedAndUnknownOnesThrow) {
  using mlopt::samples::presets;
  EXPECT_EQ(mlopt::samples::architectures(), (std::vector<std::string>{"gpt2", "llama"}));
  EXPECT_EQ(presets("gpt2"), (std::vector<std::string>{"tiny", "gpt2"}));
  EXPECT_EQ(presets("llama"), (std::vector<std::string>{"tiny", "1b"}));
  for (const auto& name : presets("gpt2")) EXPECT_NO_THROW(mlopt::samples::gpt2_preset(name));
  for (const auto& name : presets("llama")) EXPECT_NO_THROW(mlopt::samples::llama_preset(name));
  expect_usage_error([] { mlopt::samples::gpt2_preset("huge"); }, "tiny, gpt2");
  expect_usage_error([] { mlopt::samples::llama_preset("7b"); }, "tiny, 1b");
  expect_usage_error([] { presets("bert"); }, "gpt2, llama");
  EXPECT_EQ(mlopt::samples::gpt2_preset("gpt2").dim, 768);
  EXPECT_EQ(mlopt::samples::llama_preset("1b").kv_heads, 4);
}

TEST(SampleModels, UnwritablePathThrowsIoError) {
  TempDir dir;
  const auto blocker = dir.path() / "not-a-directory";
  std::ofstream(blocker) << "x";
  EXPECT_THROW(mlopt::samples::write_gpt2(mlopt::samples::gpt2_preset("tiny"), blocker / "m.pt"),
               mlopt::IoError);
  // A directory in the way of the file itself: the temp file must not stay.
  fs::create_directories(dir.path() / "taken.pt" / "inside");
  EXPECT_THROW(mlopt::samples::write_gpt2(mlopt::samples::gpt2_preset("tiny"),
                                          dir.path() / "taken.pt"),
               mlopt::IoError);
  std::vector<fs::path> left;
  for (const auto& entry : fs::directory_iterator(dir.path())) left.push_back(entry.path());
  EXPECT_EQ(left.size(), 2u) << "a temp file was left behind";
}

TEST(SampleModels, WritesIntoMissingDirectoriesAndOverwrites) {
  TempDir dir;
  const auto file = dir.path() / "a" / "b" / "gpt2.pt";
  auto config = mlopt::samples::gpt2_preset("tiny");
  mlopt::samples::write_gpt2(config, file);
  config.seed = 5;
  mlopt::samples::write_gpt2(config, file);
  EXPECT_EQ(std::distance(fs::directory_iterator(file.parent_path()), fs::directory_iterator()), 1);
  EXPECT_NO_THROW(load(file));
}

}  // namespace
