// The CPU path end to end on sample models: RecordFunction events attributed
// to modules and graph nodes, times that add up, the ranking, memory, JSON.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "mlopt/core/error.h"
#include "mlopt/core/sample_models.h"
#include "mlopt/core/tensor_parallel.h"
#include "mlopt/profiler/profile_json.h"
#include "mlopt/profiler/profiler.h"
#include "op_collector.h"
#include "test_support.h"

using namespace mlopt;
using namespace mlopt::profiler;

namespace {

// Ceilings measured once per test process, into a scratch cache.
CeilingsCache& scratch_cache() {
  static test::ScratchDir dir;
  static CeilingsCache cache(dir / "ceilings.json");
  return cache;
}

// One intra-op thread: the rankings below compare the work of attention and
// MLP, which a loaded machine's thread scheduling would otherwise blur.
ProfileResult profile_gpt2(const samples::Gpt2Config& config, const std::string& spec, int iterations = 3) {
  at::set_num_threads(1);
  static test::ScratchDir dir;
  static int n = 0;
  const auto file = dir / ("m" + std::to_string(n++) + ".pt");
  samples::write_gpt2(config, file);
  const auto model = Model::load(file);
  ProfileOptions options;
  options.warmup = 1;
  options.iterations = iterations;
  options.cache = &scratch_cache();
  return profile(model, InputSpec::parse(spec), options);
}

std::string first_category(const ProfileResult& r) {
  for (const auto& c : r.categories) {
    if (c.category != kIdle) return c.category;
  }
  return {};
}

}  // namespace

TEST(ProfileCpu, EveryOpAttributedAndTimesAddUp) {
  const auto r = profile_gpt2(samples::gpt2_preset("tiny"), "ids:int64[2,32]");
  EXPECT_DOUBLE_EQ(r.attributed_op_share, 1.0);
  ASSERT_FALSE(r.trace_ops.empty());
  int top_level = 0;
  for (const auto& e : r.trace_ops) {
    EXPECT_LE(e.start_ns, e.end_ns);
    if (e.depth != 0) continue;
    ++top_level;
    EXPECT_FALSE(e.module_path.empty()) << e.name;
    EXPECT_GE(e.node_index, 0) << e.name << " in " << e.module_path;
  }
  EXPECT_GT(top_level, 30);

  // Categories add up to the mean profiled iteration; the median is close.
  double total = 0;
  for (const auto& c : r.categories) total += c.time_us;
  double mean_span = 0;
  for (const auto& [b, e] : r.iteration_spans_ns) mean_span += static_cast<double>(e - b) / 1e3;
  mean_span /= static_cast<double>(r.iteration_spans_ns.size());
  EXPECT_NEAR(total, mean_span, 1e-6 * mean_span);
  double ops_total = 0;
  for (const auto& o : r.ops) {
    EXPECT_LE(o.cpu_self_us, o.cpu_total_us + 1e-9);
    ops_total += o.cpu_total_us;
  }
  EXPECT_LE(ops_total, mean_span);
  EXPECT_GT(r.unprofiled_iteration_us, 0);
  EXPECT_GT(r.iteration_us, 0);
  EXPECT_EQ(r.iterations, 3);
  EXPECT_GT(r.ceilings.matmul_tflops, 0);
}

TEST(ProfileCpu, AttentionHeavyModelRanksAttentionFirst) {
  samples::Gpt2Config c;
  c.layers = 2;
  c.heads = 2;
  c.dim = 32;
  c.vocab = 128;
  c.positions = 1024;
  const auto r = profile_gpt2(c, "ids:int64[1,1024]");
  EXPECT_EQ(first_category(r), kAttention);
}

TEST(ProfileCpu, MlpHeavyModelRanksMlpFirst) {
  // Llama-style with a wide SwiGLU MLP and one key/value head: the MLP has
  // about 19x the attention's weights and, at 64 tokens, about 8x its time
  // (measured on 2 loaded cores; attention's many small ops cost overhead
  // that does not grow with the tokens, so more tokens widen the margin).
  samples::LlamaConfig c;
  c.layers = 2;
  c.heads = 4;
  c.kv_heads = 1;
  c.dim = 256;
  c.ffn_dim = 4096;
  c.vocab = 128;
  c.positions = 64;
  static test::ScratchDir dir;
  samples::write_llama(c, dir / "mlp-heavy.pt");
  at::set_num_threads(1);
  ProfileOptions options;
  // Past TorchScript's profiling executor's specialisation runs, and enough
  // iterations that one descheduled op on a loaded machine averages out
  // (the ranking failed once with 4 test processes on 2 cores).
  options.warmup = 3;
  options.iterations = 5;
  options.cache = &scratch_cache();
  // Wall-clock times on a shared machine: another process running on both
  // cores (CI's ctest -j 2 beside a Qt test) once slowed every op of a
  // profile 10x and attention more than the MLP (52 vs 49 ms per iteration,
  // against ~8x the other way unloaded). A wrong ranking fails every
  // attempt; noise does not repeat three times in a row.
  std::string attempts;
  std::string first;
  for (int attempt = 0; attempt < 3 && first != kMlp; ++attempt) {
    const auto r = profile(Model::load(dir / "mlp-heavy.pt"), InputSpec::parse("ids:int64[1,64]"), options);
    first = first_category(r);
    attempts += "\nattempt " + std::to_string(attempt + 1) + ", per iteration:";
    for (const auto& c : r.categories) attempts += " " + c.category + " " + std::to_string(c.time_us) + " us;";
  }
  EXPECT_EQ(first, kMlp) << attempts;
}

TEST(ProfileCpu, OpsCarryShapesCostsAndModules) {
  const auto config = samples::gpt2_preset("tiny");
  const auto r = profile_gpt2(config, "ids:int64[2,16]");
  bool saw_fc = false;
  for (const auto& o : r.ops) {
    // c_fc is an addmm in the frozen graph; libtorch's executor may run it as
    // mm + add, both attributed to c_fc.
    if (o.module_path != "transformer.h.0.mlp.c_fc" || (o.name != "aten::addmm" && o.name != "aten::mm")) continue;
    saw_fc = true;
    // [32, 64] x [64, 256] per call (+ the bias in addmm).
    EXPECT_GE(o.cost.flops, 2.0 * 32 * 64 * 256) << o.name;
    EXPECT_LE(o.cost.flops, 2.0 * 32 * 64 * 256 + 32 * 256) << o.name;
    EXPECT_NE(std::find(o.input_shapes.begin(), o.input_shapes.end(), std::vector<int64_t>{32, 64}),
              o.input_shapes.end());
    EXPECT_NE(o.roofline.bound, Bound::Unknown);
    EXPECT_EQ(o.category, kMlp);
  }
  EXPECT_TRUE(saw_fc);
}

TEST(ProfileCpu, MemoryTimelineAndPeak) {
  const auto r = profile_gpt2(samples::gpt2_preset("tiny"), "ids:int64[4,64]");
  EXPECT_GT(r.peak_memory_bytes, 4 * 64 * 512 * 4);  // at least the logits
  ASSERT_GE(r.memory.size(), 2u);
  for (std::size_t i = 1; i < r.memory.size(); ++i) EXPECT_LE(r.memory[i - 1].time_ns, r.memory[i].time_ns);
}

TEST(ProfileCpu, JsonRoundTrip) {
  const auto r = profile_gpt2(samples::gpt2_preset("tiny"), "ids:int64[1,8]", 2);
  const auto back = profile_from_json(to_json(r));
  EXPECT_EQ(back.spec, r.spec);
  EXPECT_EQ(back.categories.size(), r.categories.size());
  EXPECT_EQ(back.ops.size(), r.ops.size());
  EXPECT_EQ(back.trace_ops.size(), r.trace_ops.size());
  EXPECT_DOUBLE_EQ(back.iteration_us, r.iteration_us);
  EXPECT_EQ(back.ops.front().roofline.bound, r.ops.front().roofline.bound);
  const auto compact = profile_from_json(to_json(r, /*with_trace=*/false));
  EXPECT_TRUE(compact.trace_ops.empty());
  EXPECT_THROW(profile_from_json("{\"format\": \"something-else\"}"), UsageError);
  EXPECT_THROW(profile_from_json("{"), UsageError);
}

TEST(ProfileCpu, RejectsNonsense) {
  const auto model = Model::load(test::tiny_gpt2());
  ProfileOptions options;
  options.iterations = 0;
  options.cache = &scratch_cache();
  EXPECT_THROW(profile(model, InputSpec::parse("ids:int64[1,4]"), options), UsageError);
  options.iterations = 1;
  EXPECT_THROW(profile(model, InputSpec::parse("ids:fp32[1,4]"), options), InputSpecError);
}

TEST(ModuleHierarchy, ParsesTorchScriptFrames) {
  EXPECT_EQ(module_path_from_hierarchy("TOP(GPT2LMHeadModel)::forward.transformer(GPT2Model)::forward."
                                       "h(GPT2Blocks)::forward.0(GPT2Block)::forward.attn(GPT2Attention)::forward."),
            "transformer.h.0.attn");
  EXPECT_EQ(module_path_from_hierarchy("TOP(M)::forward."), "");
  EXPECT_EQ(module_path_from_hierarchy("TOP(M)::forward.SELF(M)::helper.mlp(MLP)::forward."), "mlp");
  EXPECT_EQ(module_path_from_hierarchy(""), "");
}

// Rank 0 of a tensor-parallel model, profiled while the other rank runs
// alongside (run_led_by_rank0): its all-reduces are their own category, and
// only its own ops are counted (the other rank's thread runs the same ones).
TEST(ProfileTensorParallel, RankZerosCommunicationIsItsOwnCategory) {
  at::set_num_threads(1);
  const auto model = Model::load(test::tiny_gpt2());
  const auto spec = InputSpec::parse("ids:int64[2,16]");
  mlopt::TensorParallelOptions o;
  o.world_size = 2;
  const auto tp = mlopt::shard_tensor_parallel(model, spec, o);
  mlopt::parallel::ThreadGroup group(2);
  ProfileResult result;
  mlopt::run_led_by_rank0(
      tp, [&](const auto& fn) { group.run(fn); },
      [&](const Model& rank0) {
        ProfileOptions options;
        options.warmup = 1;
        options.iterations = 3;
        options.cache = &scratch_cache();
        result = profile(rank0, spec, options);
      });
  const auto comm = std::find_if(result.categories.begin(), result.categories.end(),
                                 [](const CategoryTime& c) { return c.category == kCommunication; });
  ASSERT_NE(comm, result.categories.end());
  EXPECT_GT(comm->time_us, 0.0);
  double all_reduces = 0;
  for (const auto& op : result.ops) {
    if (op.name == "mlopt::all_reduce") all_reduces += op.calls;
  }
  EXPECT_EQ(all_reduces, 4.0) << "2 layers x (attention, MLP), rank 0's only";
}
