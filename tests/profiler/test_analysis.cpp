// Correlation, aggregation and ranking on hand-made events and activity
// records, as CUPTI would deliver them: no GPU needed.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <iterator>

#include "analysis.h"
#include "mlopt/profiler/profile_json.h"

using namespace mlopt;
using namespace mlopt::profiler;

namespace {

ModuleInfo module(const std::string& name, const std::string& path, std::vector<ModuleInfo> children = {}) {
  ModuleInfo m;
  m.name = name;
  m.path = path;
  m.children = std::move(children);
  return m;
}

// blocks.0.{attn, mlp}, blocks.1.{attn, mlp}: blocks are the repeated list.
ModelInfo two_block_model() {
  ModelInfo info;
  std::vector<ModuleInfo> blocks;
  for (const char* b : {"0", "1"}) {
    const std::string p = std::string("blocks.") + b;
    blocks.push_back(module(b, p, {module("attn", p + ".attn"), module("mlp", p + ".mlp")}));
  }
  info.root = module("", "", {module("blocks", "blocks", blocks)});
  for (const char* b : {"0", "1"}) {
    const std::string p = std::string("blocks.") + b;
    info.nodes.push_back({"aten::linear", p + ".attn", {}, {}, 0});
    info.nodes.push_back({"aten::softmax", p + ".attn", {}, {}, 0});
    info.nodes.push_back({"aten::linear", p + ".mlp", {}, {}, 0});
    info.nodes.push_back({"aten::gelu", p + ".mlp", {}, {}, 0});
  }
  return info;
}

DeviceCeilings h100_like() {
  DeviceCeilings c;
  c.device_name = "test GPU";
  c.dtype = DType::F16;
  c.matmul_tflops = 800;
  c.copy_gbps = 3000;
  c.launch_overhead_us = 5;
  return c;
}

struct Builder {
  AnalysisInput in;
  ModelInfo model = two_block_model();
  uint64_t next_op = 1;
  uint32_t next_corr = 100;

  Builder() {
    in.model = &model;
    in.gpu = true;
    in.ceilings = h100_like();
    in.module_depth = 0;
  }
  // A top-level op from t0 to t1 (µs) launching kernels [k0, k1) µs on `stream`.
  uint64_t op(int iteration, const std::string& name, const std::string& module_path, double t0, double t1,
              std::vector<std::pair<double, double>> kernels, uint32_t stream = 7, bool correlated = true,
              std::vector<TensorArg> inputs = {}) {
    OpEvent e;
    e.id = next_op++;
    e.name = name;
    e.module_path = module_path;
    e.start_ns = static_cast<int64_t>(t0 * 1e3);
    e.end_ns = static_cast<int64_t>(t1 * 1e3);
    e.iteration = iteration;
    e.inputs = std::move(inputs);
    in.events.push_back(e);
    for (const auto& [k0, k1] : kernels) {
      GpuActivity a;
      a.name = name + "_kernel";
      a.start_ns = static_cast<int64_t>(k0 * 1e3);
      a.end_ns = static_cast<int64_t>(k1 * 1e3);
      a.stream = stream;
      a.correlation_id = next_corr++;
      in.trace.gpu.push_back(a);
      in.trace.api.push_back({"cudaLaunchKernel", e.start_ns, e.start_ns + 1000, a.correlation_id, 1, false});
      if (correlated) in.trace.correlations.push_back({e.id, a.correlation_id});
    }
    return e.id;
  }
};

double category_us(const ProfileResult& r, const std::string& c) {
  for (const auto& x : r.categories) {
    if (x.category == c) return x.time_us;
  }
  return 0;
}

}  // namespace

TEST(Analysis, CategoriesAddUpAndIdleIsTheGapBetweenKernels) {
  Builder b;
  for (int it = 0; it < 2; ++it) {
    const double o = it * 1000.0;
    b.in.iteration_spans.push_back({static_cast<int64_t>(o * 1e3), static_cast<int64_t>((o + 100) * 1e3)});
    b.op(it, "aten::linear", "blocks.0.attn", o + 0, o + 5, {{o + 5, o + 15}});
    b.op(it, "aten::softmax", "blocks.0.attn", o + 6, o + 8, {{o + 16, o + 20}});
    b.op(it, "aten::linear", "blocks.0.mlp", o + 9, o + 12, {{o + 20, o + 50}});
    b.op(it, "aten::gelu", "blocks.0.mlp", o + 13, o + 14, {{o + 50, o + 55}});
    b.op(it, "aten::linear", "blocks.1.attn", o + 15, o + 16, {{o + 60, o + 70}});
  }
  ProfileResult r;
  analyze_profile(b.in, r);
  EXPECT_NEAR(category_us(r, kAttention), 10 + 4 + 10, 1e-9);
  EXPECT_NEAR(category_us(r, kMlp), 30 + 5, 1e-9);
  EXPECT_NEAR(category_us(r, kIdle), 100 - 59, 1e-9);
  double total = 0;
  for (const auto& c : r.categories) total += c.time_us;
  EXPECT_NEAR(total, 100, 1e-9);
  EXPECT_NEAR(r.gpu_busy_us, 59, 1e-9);
  EXPECT_DOUBLE_EQ(r.correlated_kernel_share, 1.0);
  EXPECT_EQ(r.categories.front().category, kIdle);  // 41 us of 100
  // Ops matched to graph nodes: the second linear in blocks.0.* is the mlp one.
  for (const auto& op : r.ops) {
    EXPECT_GE(op.node_index, 0) << op.name << " " << op.module_path;
    EXPECT_EQ(b.model.nodes[static_cast<std::size_t>(op.node_index)].module_path, op.module_path);
    EXPECT_DOUBLE_EQ(op.calls, 1.0);  // per iteration
  }
  // Modules grouped one level below the blocks.
  ASSERT_FALSE(r.modules.empty());
  EXPECT_EQ(r.modules.front().module_path, "blocks.0.mlp");
  EXPECT_NEAR(r.modules.front().time_us, 35, 1e-9);
  // The trace keeps only the last iteration.
  EXPECT_EQ(r.trace_ops.size(), 5u);
  EXPECT_EQ(r.trace_gpu.gpu.size(), 5u);
}

TEST(Analysis, KernelsOfNestedOpsBelongToTheirRoot) {
  Builder b;
  b.in.iteration_spans.push_back({0, 100'000});
  const uint64_t linear = b.op(0, "aten::linear", "blocks.0.mlp", 0, 20, {});
  // aten::linear calls aten::addmm, whose kernel CUPTI correlates with addmm's id.
  OpEvent addmm;
  addmm.id = b.next_op++;
  addmm.parent = linear;
  addmm.depth = 1;
  addmm.name = "aten::addmm";
  addmm.start_ns = 1'000;
  addmm.end_ns = 19'000;
  b.in.events.push_back(addmm);
  GpuActivity k;
  k.name = "sm90_gemm";
  k.start_ns = 5'000;
  k.end_ns = 45'000;
  k.correlation_id = 999;
  b.in.trace.gpu.push_back(k);
  b.in.trace.correlations.push_back({addmm.id, 999});
  ProfileResult r;
  analyze_profile(b.in, r);
  ASSERT_EQ(r.kernels.size(), 1u);
  EXPECT_EQ(r.kernels[0].op, "aten::linear");
  EXPECT_EQ(r.kernels[0].module_path, "blocks.0.mlp");
  EXPECT_EQ(r.kernels[0].category, kMlp);
  ASSERT_EQ(r.ops.size(), 1u);
  EXPECT_NEAR(r.ops[0].gpu_us, 40, 1e-9);
  EXPECT_EQ(r.ops[0].kernels, 1);
  EXPECT_NEAR(r.ops[0].cpu_self_us, 2, 1e-9);  // 20 us minus addmm's 18
  EXPECT_NEAR(category_us(r, kMlp), 40, 1e-9);
}

TEST(Analysis, UncorrelatedKernelsAreCountedNotHidden) {
  Builder b;
  b.in.iteration_spans.push_back({0, 100'000});
  b.op(0, "aten::linear", "blocks.0.attn", 0, 5, {{5, 35}});
  b.op(0, "aten::gelu", "blocks.0.mlp", 6, 8, {{40, 50}}, 7, /*correlated=*/false);
  b.in.trace.dropped_records = 3;
  ProfileResult r;
  analyze_profile(b.in, r);
  EXPECT_NEAR(r.correlated_kernel_share, 30.0 / 40.0, 1e-12);
  EXPECT_NEAR(category_us(r, kOther), 10, 1e-9);
  EXPECT_EQ(r.dropped_records, 3);
}

TEST(Analysis, ConcurrentStreamsShareTheirOverlap) {
  Builder b;
  b.in.iteration_spans.push_back({0, 100'000});
  b.op(0, "aten::linear", "blocks.0.attn", 0, 1, {{10, 30}}, 7);
  b.op(0, "aten::linear", "blocks.0.mlp", 1, 2, {{20, 40}}, 8);
  ProfileResult r;
  analyze_profile(b.in, r);
  EXPECT_NEAR(r.gpu_busy_us, 30, 1e-9);  // [10, 40): the overlap counted once
  EXPECT_NEAR(category_us(r, kAttention), 15, 1e-9);
  EXPECT_NEAR(category_us(r, kMlp), 15, 1e-9);
  EXPECT_NEAR(category_us(r, kIdle), 70, 1e-9);
}

TEST(Analysis, RecommendsCudaGraphsForALaunchBoundRun) {
  Builder b;
  b.in.iteration_spans.push_back({0, 1'000'000});
  for (int i = 0; i < 100; ++i) {  // 100 tiny kernels, 2 us each, 10 us apart
    b.op(0, "aten::gelu", "blocks.0.mlp", i * 10.0, i * 10.0 + 1, {{i * 10.0 + 1, i * 10.0 + 3}});
  }
  ProfileResult r;
  analyze_profile(b.in, r);
  ASSERT_FALSE(r.recommendations.empty());
  EXPECT_EQ(r.recommendations.front().transform, "cuda_graphs");
  EXPECT_NEAR(r.recommendations.front().expected_saving_us, 0.8 * 800, 1e-6);
  EXPECT_GT(r.recommendations.front().expected_speedup, 1.0);
}

TEST(Analysis, RecommendsFlashAttentionWhenTheScoresDominate) {
  Builder b;
  b.in.iteration_spans.push_back({0, 10'000'000});
  // q @ k^T and softmax over 16 x 2048 x 2048 scores: far from the ceiling.
  const TensorArg q{{1, 16, 2048, 64}, DType::F16};
  const TensorArg kt{{1, 16, 64, 2048}, DType::F16};
  const TensorArg scores{{1, 16, 2048, 2048}, DType::F16};
  b.op(0, "aten::matmul", "blocks.0.attn", 0, 10, {{10, 2010}}, 7, true, {q, kt});
  b.op(0, "aten::softmax", "blocks.0.attn", 11, 12, {{2010, 6010}}, 7, true,
       {scores, TensorArg{{}, DType::I64, false, -1}});
  ProfileResult r;
  analyze_profile(b.in, r);
  bool found = false;
  for (const auto& rec : r.recommendations) {
    if (rec.transform != "flash_attention") continue;
    found = true;
    EXPECT_GT(rec.expected_saving_us, 5000);  // most of the 6 ms
    EXPECT_LT(rec.expected_saving_us, 6000);
    EXPECT_NE(rec.reason.find("GFLOP"), std::string::npos) << rec.reason;
    EXPECT_EQ(rec.modules, std::vector<std::string>{"blocks.0.attn"});
  }
  EXPECT_TRUE(found);
}

TEST(Analysis, CpuRunUsesOpTimesAndInterpreterGaps) {
  Builder b;
  b.in.gpu = false;
  b.in.iteration_spans.push_back({0, 50'000});
  b.op(0, "aten::linear", "blocks.0.attn", 0, 10, {});
  b.op(0, "aten::linear", "blocks.0.mlp", 12, 32, {});
  b.op(0, "aten::gelu", "blocks.0.mlp", 33, 38, {});
  ProfileResult r;
  analyze_profile(b.in, r);
  EXPECT_NEAR(category_us(r, kMlp), 25, 1e-9);
  EXPECT_NEAR(category_us(r, kAttention), 10, 1e-9);
  EXPECT_NEAR(category_us(r, kIdle), 15, 1e-9);
  EXPECT_TRUE(r.recommendations.empty());  // the GPU transforms do not apply to a CPU run
}

TEST(Analysis, CategoryOfOpsAndModules) {
  EXPECT_EQ(category_of("aten::addmm", "transformer.h.3.attn.c_attn"), kAttention);
  EXPECT_EQ(category_of("aten::matmul", "model.layers.0.self_attn"), kAttention);
  EXPECT_EQ(category_of("aten::addmm", "transformer.h.0.mlp.c_fc"), kMlp);
  EXPECT_EQ(category_of("aten::silu", "model.layers.2.mlp"), kMlp);
  EXPECT_EQ(category_of("aten::layer_norm", "transformer.h.0.ln_1"), kNorm);
  EXPECT_EQ(category_of("aten::pow", "model.layers.0.input_layernorm"), kNorm);
  EXPECT_EQ(category_of("aten::mul", "model.norm"), kNorm);
  EXPECT_EQ(category_of("aten::embedding", "transformer.wte"), kEmbedding);
  EXPECT_EQ(category_of("aten::linear", "lm_head"), kEmbedding);
  EXPECT_EQ(category_of("aten::add", "transformer.h.0"), kElementwise);
  EXPECT_EQ(category_of("aten::arange", "transformer"), kOther);
  EXPECT_EQ(category_of("c10d::allreduce_", "transformer.h.0.mlp"), kCommunication);
  // The all-reduce a tensor-parallel rank runs after each block is communication, not the block.
  EXPECT_EQ(category_of("mlopt::all_reduce", "transformer.h.0.attn"), kCommunication);
}

TEST(Analysis, DefaultModuleDepthIsBelowTheBlocks) {
  EXPECT_EQ(default_module_depth(two_block_model()), 3);  // blocks.0.attn
}

TEST(Analysis, FusionGroupsAndDecomposedOpsArePlacedInTheGraph) {
  // The executor ran blocks.0.mlp's linear as mm + add and fused its gelu
  // into one op; none of them carries a module.
  Builder b;
  b.in.gpu = false;
  b.in.iteration_spans.push_back({0, 100'000});
  b.op(0, "aten::linear", "blocks.0.attn", 0, 1, {});
  b.op(0, "aten::softmax", "blocks.0.attn", 2, 3, {});
  b.op(0, "aten::mm", "", 4, 5, {});
  b.op(0, "aten::add", "", 6, 7, {});
  b.op(0, "fused_gelu_mul", "", 8, 9, {});
  b.op(0, "aten::linear", "blocks.1.attn", 10, 11, {});
  ProfileResult r;
  analyze_profile(b.in, r);
  EXPECT_DOUBLE_EQ(r.attributed_op_share, 1.0);
  for (const auto& e : r.trace_ops) {
    if (e.name == "aten::mm" || e.name == "aten::add") {
      EXPECT_EQ(e.module_path, "blocks.0.mlp") << e.name;
      EXPECT_EQ(e.node_index, 2) << e.name;  // the linear they replace
    }
    if (e.name == "fused_gelu_mul") {
      EXPECT_EQ(e.module_path, "blocks.0.mlp");
      EXPECT_EQ(e.node_index, 3);
    }
  }
  EXPECT_NEAR(category_us(r, kMlp), 3, 1e-9);
}

// Real CUPTI records: the last iteration of `mlopt profile` on the gpt2
// sample (fp16, 8 x 1024 tokens) on an NVIDIA H100, 2026-11-25, re-analysed.
TEST(RecordedH100Profile, EveryKernelTracedAndAttentionRankedFirst) {
  std::ifstream in(std::string(MLOPT_TEST_DATA_DIR) + "/h100-gpt2-fp16-8x1024-profile.json");
  ASSERT_TRUE(in) << "missing recorded profile";
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto recorded = profile_from_json(text);
  ASSERT_FALSE(recorded.trace_ops.empty());

  // The module tree is all the analysis needs of the model here: its blocks.
  ModelInfo model;
  std::vector<ModuleInfo> blocks;
  for (int i = 0; i < 12; ++i) {
    const std::string n = std::to_string(i);
    blocks.push_back(module(n, "transformer.h." + n, {module("attn", "transformer.h." + n + ".attn")}));
  }
  model.root = module("", "", {module("transformer", "transformer", {module("h", "transformer.h", blocks)})});

  AnalysisInput input;
  input.model = &model;
  input.gpu = true;
  input.ceilings = recorded.ceilings;
  input.events = recorded.trace_ops;
  input.trace = recorded.trace_gpu;
  input.iteration_spans = {recorded.iteration_spans_ns.back()};
  ProfileResult r;
  analyze_profile(input, r);

  EXPECT_EQ(r.dropped_records, 0);
  EXPECT_GE(r.correlated_kernel_share, 0.99);
  EXPECT_DOUBLE_EQ(r.attributed_op_share, 1.0);
  ASSERT_FALSE(r.categories.empty());
  EXPECT_EQ(r.categories.front().category, kAttention);
  double total = 0;
  for (const auto& c : r.categories) total += c.time_us;
  const auto [b, e] = recorded.iteration_spans_ns.back();
  EXPECT_NEAR(total, static_cast<double>(e - b) / 1e3, 1e-6 * total);
  // One iteration against the mean of ten: within 5%.
  EXPECT_NEAR(category_us(r, kAttention), category_us(recorded, kAttention), 0.05 * category_us(recorded, kAttention));
  ASSERT_FALSE(r.recommendations.empty());
  EXPECT_EQ(r.recommendations.front().transform, "flash_attention");
  int activities = 0;
  for (const auto& o : r.ops) activities += o.kernels;
  EXPECT_EQ(activities, static_cast<int>(recorded.trace_gpu.gpu.size()));
}

TEST(Analysis, ParallelismAdviceForManyGpusAndLongSequences) {
  Builder b;
  b.in.visible_devices = 4;
  b.in.iteration_spans.push_back({0, 100'000'000});
  // Softmax over 32k keys: the scores alone are quadratic in the sequence.
  const TensorArg scores{{1, 8, 32768, 32768}, DType::F16};
  b.op(0, "aten::softmax", "blocks.0.attn", 0, 1, {{1, 40'001}}, 7, true,
       {scores, TensorArg{{}, DType::I64, false, -1}});
  b.op(0, "aten::linear", "blocks.0.mlp", 2, 3, {{40'001, 60'001}});
  ProfileResult r;
  analyze_profile(b.in, r);
  std::map<std::string, Recommendation> by_name;
  for (const auto& rec : r.recommendations) by_name[rec.transform] = rec;
  ASSERT_TRUE(by_name.count("ring_attention"));
  EXPECT_NE(by_name["ring_attention"].reason.find("32768 keys"), std::string::npos);
  EXPECT_NEAR(by_name["ring_attention"].expected_saving_us, 40'000 * 0.75, 1e-6);
  ASSERT_TRUE(by_name.count("tensor_parallel"));
  EXPECT_NEAR(by_name["tensor_parallel"].expected_saving_us, 60'000 * 0.75 * 0.8, 1e-6);

  // One GPU: no tensor parallelism, and ring attention saves memory, not time.
  b.in.visible_devices = 1;
  ProfileResult one;
  analyze_profile(b.in, one);
  for (const auto& rec : one.recommendations) {
    EXPECT_NE(rec.transform, "tensor_parallel");
    if (rec.transform == "ring_attention") {
      EXPECT_EQ(rec.expected_saving_us, 0);
    }
  }
}
