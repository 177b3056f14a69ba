// Tensor parallelism on CPU ranks (threads): every sharded model must give
// the unsharded model's outputs, for 2 and 4 ranks, on the samples and on
// attention written the ways HF models write it.
#include <gtest/gtest.h>
#include <torch/script.h>

#include <mutex>

#include "mlopt/core/collectives.h"
#include "mlopt/core/error.h"
#include "mlopt/core/model.h"
#include "mlopt/core/sample_models.h"
#include "mlopt/core/tensor_parallel.h"
#include "mlopt/core/torch_bridge.h"
#include "mlopt/parallel/counting_communicator.h"
#include "model_from_source.h"
#include "test_support.h"

namespace {

using mlopt::test::model_from_source;

using mlopt::InputSpec;
using mlopt::Model;
using mlopt::TensorParallelModel;
using mlopt::parallel::Communicator;
using mlopt::parallel::ThreadGroup;

mlopt::TensorParallelOptions ranks(int n, bool sequence_parallel = false) {
  mlopt::TensorParallelOptions o;
  o.world_size = n;
  o.sequence_parallel = sequence_parallel;
  return o;
}

// The model's first output tensor (gpt2: logits; llama: the dict's logits).
at::Tensor first_output(const c10::IValue& v) { return mlopt::flatten_outputs(v).at(0).second; }

// Every rank's output for one set of inputs, run together on threads.
std::vector<at::Tensor> run_ranks(const TensorParallelModel& tp, const std::vector<c10::IValue>& inputs) {
  ThreadGroup group(tp.world_size());
  std::vector<at::Tensor> outs(static_cast<std::size_t>(tp.world_size()));
  group.run([&](Communicator& comm) { outs[comm.rank()] = first_output(tp.forward(comm, inputs)); });
  return outs;
}

double relative_error(const at::Tensor& got, const at::Tensor& want) {
  return (got.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>() /
         want.to(at::kDouble).abs().max().item<double>();
}

// Checks the ranks against the model as loaded (not only against the
// verification inside shard_tensor_parallel) on inputs of its own seed.
void expect_matches_unsharded(const Model& model, const TensorParallelModel& tp, const InputSpec& spec) {
  const auto inputs = mlopt::make_inputs(model, spec, 77);
  const auto want = first_output(mlopt::forward(model, inputs));
  const auto outs = run_ranks(tp, inputs);
  for (std::size_t r = 0; r < outs.size(); ++r) {
    ASSERT_TRUE(outs[r].sizes().equals(want.sizes())) << "rank " << r;
    EXPECT_LT(relative_error(outs[r], want), 1e-4) << "rank " << r;
    EXPECT_TRUE(outs[r].equal(outs[0])) << "every rank holds the same result after the last all-reduce";
  }
}

int count_kind(const Model& m, const std::string& kind) {
  int n = 0;
  for (const auto& node : m.info().nodes) n += node.kind == kind;
  return n;
}

TEST(TensorParallel, Gpt2SplitsEveryBlockFor2And4Ranks) {
  const auto model = Model::load(mlopt::test::tiny_gpt2());  // 2 layers, 4 heads of 16, dim 64
  const auto spec = InputSpec::parse("ids:int64[2,12]");
  for (int n : {2, 4}) {
    SCOPED_TRACE(n);
    const auto tp = mlopt::shard_tensor_parallel(model, spec, ranks(n));
    const auto& plan = tp.plan();
    ASSERT_EQ(plan.blocks.size(), 4u) << plan.describe();
    EXPECT_EQ(plan.blocks[0].module, "transformer.h.0.attn");
    EXPECT_EQ(plan.blocks[0].kind, "attention");
    EXPECT_NE(plan.blocks[0].detail.find("4 query heads -> " + std::to_string(4 / n) + " per rank"),
              std::string::npos)
        << plan.blocks[0].detail;
    EXPECT_NE(plan.blocks[0].detail.find("c_attn"), std::string::npos) << plan.blocks[0].detail;
    EXPECT_EQ(plan.blocks[1].kind, "mlp");
    EXPECT_NE(plan.blocks[1].detail.find("d_ff 256 -> " + std::to_string(256 / n)), std::string::npos);
    EXPECT_TRUE(plan.replicated.empty());
    // One all-reduce of the hidden states per block: 2 x 12 tokens x 64 fp32.
    EXPECT_EQ(plan.blocks[0].all_reduce_elements, 2 * 12 * 64);
    EXPECT_EQ(plan.all_reduce_bytes(), 4 * 2 * 12 * 64 * 4);
    EXPECT_EQ(plan.bytes_sent_per_rank(), plan.all_reduce_bytes() * 2 * (n - 1) / n);
    EXPECT_LT(plan.weight_bytes_per_rank, plan.model_weight_bytes);
    EXPECT_NE(plan.describe().find("Weights per GPU"), std::string::npos);
    // Each rank: 4 all-reduces, and its projections really are narrower.
    for (int r = 0; r < n; ++r) EXPECT_EQ(count_kind(tp.rank(r), "mlopt::all_reduce"), 4);
    const auto& last = tp.outcomes().back();
    EXPECT_EQ(last.transform, "tensor_parallel");
    ASSERT_TRUE(last.verification.has_value());
    EXPECT_TRUE(last.verification->passed);
    expect_matches_unsharded(model, tp, spec);
  }
}

TEST(TensorParallel, LlamaGqaSplitsKeyValueHeadsOrSaysWhyNot) {
  const auto config = mlopt::test::tiny_gqa_llama_config();
  const auto model = Model::load(mlopt::test::tiny_gqa_llama());
  const auto spec = InputSpec::parse("ids:int64[2,8]");

  const auto two = mlopt::shard_tensor_parallel(model, spec, ranks(2));
  ASSERT_EQ(two.plan().blocks.size(), static_cast<std::size_t>(2 * config.layers)) << two.plan().describe();
  EXPECT_NE(two.plan().blocks[0].detail.find("4 query / 2 key-value heads -> 2 / 1 per rank"), std::string::npos)
      << two.plan().blocks[0].detail;
  expect_matches_unsharded(model, two, spec);

  // 2 key-value heads do not split 4 ways: attention stays whole on every
  // rank, the MLPs are still split, and the outputs still match.
  const auto four = mlopt::shard_tensor_parallel(model, spec, ranks(4));
  ASSERT_EQ(four.plan().replicated.size(), static_cast<std::size_t>(config.layers));
  EXPECT_NE(four.plan().replicated[0].reason.find("2 key-value heads do not split over 4 ranks"),
            std::string::npos)
      << four.plan().replicated[0].reason;
  EXPECT_EQ(four.plan().blocks.size(), static_cast<std::size_t>(config.layers));
  EXPECT_EQ(four.plan().blocks[0].kind, "mlp");
  EXPECT_NE(four.plan().describe().find("Replicated on every rank"), std::string::npos);
  expect_matches_unsharded(model, four, spec);
}


// HF Llama's way: separate q/k/v nn.Linear, the head shape appended to
// x.size()[:-1], GQA by repeat_interleave, reshape to the hidden size, and a
// SwiGLU MLP of three Linear layers.
TEST(TensorParallel, HfStyleAttentionWithSizeListsAndRepeatInterleave) {
  mlopt::test::ScratchDir dir;
  torch::manual_seed(5);
  const int64_t C = 64, H = 4, KV = 2, D = 16, F = 96;
  const auto w = [](int64_t o, int64_t i) { return torch::randn({o, i}) * 0.1; };
  const auto model = model_from_source(
      dir,
      "def forward(self, x):\n"
      "    B = x.size(0)\n"
      "    T = x.size(1)\n"
      "    q = torch.linear(x, self.wq, self.bq).view(x.size()[:-1] + [4, 16]).transpose(1, 2)\n"
      "    k = torch.linear(x, self.wk, None).view(x.size()[:-1] + [2, 16]).transpose(1, 2)\n"
      "    v = torch.linear(x, self.wv, None).view(B, T, 2, 16).transpose(1, 2)\n"
      "    k = k.repeat_interleave(2, dim=1)\n"
      "    v = v.repeat_interleave(2, dim=1)\n"
      "    s = torch.matmul(q, k.transpose(2, 3)) * 0.25\n"
      "    s = s + torch.full([T, T], float('-inf')).triu(1)\n"
      "    a = torch.matmul(torch.softmax(s, dim=-1), v)\n"
      "    a = a.transpose(1, 2).reshape(B, T, 64)\n"
      "    h = x + torch.linear(a, self.wo, self.bo)\n"
      "    g = torch.silu(torch.linear(h, self.wg, None)) * torch.linear(h, self.wu, None)\n"
      "    return h + torch.linear(g, self.wd, None)\n",
      {{"wq", w(H * D, C)}, {"bq", torch::randn({H * D}) * 0.1}, {"wk", w(KV * D, C)}, {"wv", w(KV * D, C)},
       {"wo", w(C, H * D)}, {"bo", torch::randn({C}) * 0.1}, {"wg", w(F, C)}, {"wu", w(F, C)}, {"wd", w(C, F)}});
  const auto spec = InputSpec::parse("x:float32[2,10,64]");
  const auto tp = mlopt::shard_tensor_parallel(model, spec, ranks(2));
  ASSERT_EQ(tp.plan().blocks.size(), 2u) << tp.plan().describe();
  EXPECT_NE(tp.plan().blocks[0].detail.find("4 head-count shapes rescaled"), std::string::npos)
      << tp.plan().blocks[0].detail;
  EXPECT_NE(tp.plan().blocks[1].detail.find("d_ff 96 -> 48"), std::string::npos);
  expect_matches_unsharded(model, tp, spec);
}

TEST(TensorParallel, NothingToSplitIsAnErrorThatSaysWhy) {
  mlopt::test::ScratchDir dir;
  auto config = mlopt::samples::gpt2_preset("tiny");
  config.heads = 4;
  const auto file = dir / "gpt2.pt";
  mlopt::samples::write_gpt2(config, file);
  const auto model = Model::load(file);
  // 4 heads and d_ff 256 do not split over 3 ranks.
  try {
    mlopt::shard_tensor_parallel(model, InputSpec::parse("ids:int64[1,8]"), ranks(3));
    FAIL() << "expected a UsageError";
  } catch (const mlopt::UsageError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("nothing to split over 3 ranks"), std::string::npos) << what;
    EXPECT_NE(what.find("transformer.h.0.attn: 4 query / 4 key-value heads do not split over 3 ranks"),
              std::string::npos)
        << what;
  }
  EXPECT_THROW(mlopt::shard_tensor_parallel(model, InputSpec::parse("ids:int64[1,8]"), ranks(1)), mlopt::UsageError);
}

TEST(TensorParallel, OneRankAloneIsTheSameAsThatRankOfTheGroup) {
  const auto model = Model::load(mlopt::test::tiny_gpt2());
  const auto spec = InputSpec::parse("ids:int64[1,8]");
  const auto all = mlopt::shard_tensor_parallel(model, spec, ranks(2));
  const auto one = mlopt::shard_one_rank(model, spec, ranks(2), 1);
  EXPECT_EQ(one.plan().blocks, all.plan().blocks);
  EXPECT_THROW(one.rank(0), mlopt::UsageError);
  // Rank 1 alone in a process pairs with rank 0 of the full set.
  const auto inputs = mlopt::make_inputs(model, spec, 3);
  ThreadGroup group(2);
  std::vector<at::Tensor> outs(2);
  group.run([&](Communicator& comm) {
    const auto& tp = comm.rank() == 1 ? one : all;
    outs[comm.rank()] = tp.forward(comm, inputs).toTensor();
  });
  EXPECT_TRUE(outs[0].equal(outs[1]));
  EXPECT_LT(relative_error(outs[0], mlopt::forward(model, inputs).toTensor()), 1e-4);
}

TEST(TensorParallel, AShardedRankRunAloneSaysHowToRunIt) {
  const auto model = Model::load(mlopt::test::tiny_gpt2());
  const auto spec = InputSpec::parse("ids:int64[1,8]");
  const auto tp = mlopt::shard_tensor_parallel(model, spec, ranks(2));
  try {
    mlopt::forward(tp.rank(0), mlopt::make_inputs(model, spec, 1));
    FAIL() << "expected an error";
  } catch (const mlopt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--tensor-parallel 2"), std::string::npos) << e.what();
  }
  ThreadGroup three(3);
  EXPECT_THROW(three.run([&](Communicator& comm) { tp.forward(comm, mlopt::make_inputs(model, spec, 1)); }),
               mlopt::UsageError);
}

// Sequence parallelism: each all-reduce becomes a reduce-scatter along the
// sequence, the norms and residual adds run on seq / N tokens, and the
// outputs still equal the unsharded model's.
TEST(SequenceParallel, Gpt2AndLlamaNormsRunOnTheirTokensAndOutputsMatch) {
  const std::vector<std::pair<std::filesystem::path, int>> models = {
      {mlopt::test::tiny_gpt2(), 2}, {mlopt::test::tiny_gqa_llama(), mlopt::test::tiny_gqa_llama_config().layers}};
  for (const auto& [file, layers] : models) {
    for (int n : {2, 4}) {
      SCOPED_TRACE(file.string() + " x" + std::to_string(n));
      const auto model = Model::load(file);
      const auto spec = InputSpec::parse("ids:int64[2,16]");
      const auto tp = mlopt::shard_tensor_parallel(model, spec, ranks(n, true));
      const auto& plan = tp.plan();
      EXPECT_TRUE(plan.sequence_parallel);
      // Every block's all-reduce is split (llama's attention stays whole 4 ways).
      EXPECT_EQ(plan.reduce_scatters, static_cast<int>(plan.blocks.size())) << plan.describe();
      EXPECT_EQ(count_kind(tp.rank(0), "mlopt::all_reduce"), 0) << plan.describe();
      EXPECT_EQ(count_kind(tp.rank(0), "mlopt::reduce_scatter"), plan.reduce_scatters);
      // At least the residual adds and the norm after each block run split.
      EXPECT_GE(plan.sequence_local_ops, 2 * layers) << plan.describe();
      EXPECT_GE(plan.all_gathers, 1);
      EXPECT_NE(plan.describe().find("Sequence parallel:"), std::string::npos);
      EXPECT_TRUE(tp.outcomes().back().verification->passed);
      expect_matches_unsharded(model, tp, spec);
    }
  }
}

TEST(SequenceParallel, ASequenceThatDoesNotSplitKeepsTheAllReduces) {
  const auto model = Model::load(mlopt::test::tiny_gpt2());
  const auto spec = InputSpec::parse("ids:int64[1,7]");
  const auto tp = mlopt::shard_tensor_parallel(model, spec, ranks(2, true));
  EXPECT_EQ(tp.plan().reduce_scatters, 0);
  ASSERT_FALSE(tp.plan().replicated.empty());
  EXPECT_NE(tp.plan().replicated[0].reason.find("a sequence of 7 tokens does not split over 2 ranks"),
            std::string::npos)
      << tp.plan().replicated[0].reason;
  EXPECT_EQ(count_kind(tp.rank(0), "mlopt::all_reduce"), 4);
  expect_matches_unsharded(model, tp, spec);
}

// Ring attention over the whole model: each rank runs every layer on its
// tokens (zigzag chunks for these causal models), positions stay global,
// attention sees all tokens through the ring, and the gathered outputs equal
// the unsharded model's on every rank.
TEST(RingAttentionModel, EveryRankGivesTheWholeModelsOutputs) {
  for (const auto& file : {mlopt::test::tiny_gpt2(), mlopt::test::tiny_gqa_llama()}) {
    for (int n : {2, 4}) {
      SCOPED_TRACE(file.string() + " x" + std::to_string(n));
      const auto model = Model::load(file);
      const auto spec = InputSpec::parse("ids:int64[2,16]");
      auto options = ranks(n);
      options.ring_attention = true;
      const auto ring = mlopt::shard_tensor_parallel(model, spec, options);
      const auto& plan = ring.plan();
      EXPECT_TRUE(plan.ring_attention);
      EXPECT_TRUE(plan.ring_zigzag);
      EXPECT_EQ(plan.ring_seq, 16);
      EXPECT_GT(plan.ring_blocks, 0);
      EXPECT_GT(plan.ring_bytes_per_rank, 0);
      EXPECT_EQ(plan.weight_bytes_per_rank, plan.model_weight_bytes);
      EXPECT_NE(plan.describe().find("16 tokens is split " + std::to_string(n) + " ways"), std::string::npos)
          << plan.describe();
      EXPECT_EQ(count_kind(ring.rank(1), "mlopt::ring_attention"), plan.ring_blocks);
      EXPECT_EQ(count_kind(ring.rank(1), "mlopt::flash_attention"), 0);
      EXPECT_EQ(count_kind(ring.rank(1), "mlopt::ring_split"), 1);
      EXPECT_EQ(ring.outcomes().back().transform, "ring_attention");
      EXPECT_TRUE(ring.outcomes().back().verification->passed);
      expect_matches_unsharded(model, ring, spec);
    }
  }
}

TEST(RingAttentionModel, ASequenceThatDoesNotSplitIsRefusedWithWhatWould) {
  const auto model = Model::load(mlopt::test::tiny_gpt2());
  auto options = ranks(2);
  options.ring_attention = true;
  try {
    mlopt::shard_tensor_parallel(model, InputSpec::parse("ids:int64[1,6]"), options);
    FAIL() << "expected a UsageError";
  } catch (const mlopt::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("a sequence of 6 tokens does not split into 4 equal chunks"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("use a multiple of 4"), std::string::npos) << e.what();
  }
  options.sequence_parallel = true;
  EXPECT_THROW(mlopt::shard_tensor_parallel(model, InputSpec::parse("ids:int64[1,8]"), options), mlopt::UsageError);
}

// The plans' communication models against the bytes the collectives are
// given in one forward (counted on every rank).
TEST(CommunicationModel, EachPlanSaysWhatItsCollectivesCarry) {
  const auto model = Model::load(mlopt::test::tiny_gpt2());
  const auto spec = InputSpec::parse("ids:int64[2,16]");
  const auto inputs = mlopt::make_inputs(model, spec, 5);
  for (const char* mode : {"tensor", "sequence", "ring"}) {
    SCOPED_TRACE(mode);
    auto options = ranks(4, std::string(mode) == "sequence");
    options.ring_attention = std::string(mode) == "ring";
    const auto tp = mlopt::shard_tensor_parallel(model, spec, options);
    const auto& plan = tp.plan();
    ThreadGroup group(4);
    std::mutex m;
    std::vector<std::uint64_t> sent(4), payload(4), ring_bytes(4);
    group.run([&](Communicator& comm) {
      mlopt::parallel::CountingCommunicator counted(comm);
      tp.forward(counted, inputs);
      std::lock_guard lock(m);
      sent[comm.rank()] = counted.ring_bytes_sent();
      payload[comm.rank()] = counted.all_reduces().bytes;
      ring_bytes[comm.rank()] = counted.ring_exchanges().bytes;
    });
    for (int r = 0; r < 4; ++r) {
      if (plan.ring_attention) {
        EXPECT_EQ(ring_bytes[r], static_cast<std::uint64_t>(plan.ring_bytes_per_rank)) << plan.describe();
      } else {
        EXPECT_EQ(sent[r], static_cast<std::uint64_t>(plan.bytes_sent_per_rank())) << plan.describe();
        EXPECT_EQ(payload[r], plan.sequence_parallel ? 0u : static_cast<std::uint64_t>(plan.all_reduce_bytes()));
      }
    }
  }
}

// Code that knows nothing of ranks drives them all through rank 0's model:
// every rank runs as many forwards as rank 0, and a failing leader releases
// the others.
TEST(LedByRankZero, EveryForwardOfRankZeroRunsOnEveryRank) {
  const auto model = Model::load(mlopt::test::tiny_gpt2());
  const auto spec = InputSpec::parse("ids:int64[1,8]");
  const auto tp = mlopt::shard_tensor_parallel(model, spec, ranks(2));
  ThreadGroup group(2);
  std::mutex m;
  std::vector<std::uint64_t> reduces(2);
  const mlopt::RankRunner counted_ranks = [&](const std::function<void(Communicator&)>& fn) {
    group.run([&](Communicator& comm) {
      mlopt::parallel::CountingCommunicator counted(comm);
      fn(counted);
      std::lock_guard lock(m);
      reduces[comm.rank()] = counted.all_reduces().calls;
    });
  };
  mlopt::RunResult result;
  mlopt::run_led_by_rank0(tp, counted_ranks, [&](const Model& rank0) {
    mlopt::RunOptions o;
    o.warmup = 1;
    o.iterations = 3;
    result = mlopt::run(rank0, spec, o);
  });
  EXPECT_EQ(result.stats.count, 3);
  EXPECT_GE(reduces[0], 4u * 4u);  // 4 blocks x (1 warm-up + 3 timed) at least
  EXPECT_EQ(reduces[1], reduces[0]);
  // Rank 0's forward gives the unsharded model's outputs.
  const auto inputs = mlopt::make_inputs(model, spec, 2);
  at::Tensor got;
  mlopt::run_led_by_rank0(tp, counted_ranks, [&](const Model& rank0) { got = first_output(mlopt::forward(rank0, inputs)); });
  EXPECT_LT(relative_error(got, first_output(mlopt::forward(model, inputs))), 1e-4);

  EXPECT_THROW(mlopt::run_led_by_rank0(tp, counted_ranks,
                                       [&](const Model& rank0) {
                                         mlopt::forward(rank0, inputs);
                                         throw std::runtime_error("the leader failed");
                                       }),
               std::runtime_error);
}

}  // namespace
