// The runner on the CPU: samples, statistics, outputs, observers, and specs
// that do not fit the model.
#include <gtest/gtest.h>

#include "mlopt/core/error.h"
#include "mlopt/core/runner.h"
#include "mlopt/core/torch_bridge.h"
#include "test_support.h"

using namespace mlopt;

namespace {

class CountingObserver : public RunObserver {
 public:
  void on_iteration_begin(int index, bool warmup) override {
    EXPECT_FALSE(open_);
    EXPECT_EQ(index, warmup ? warmups_ : timed_);
    open_ = true;
  }
  void on_iteration_end(int, bool warmup) override {
    EXPECT_TRUE(open_);
    open_ = false;
    (warmup ? warmups_ : timed_)++;
  }
  int warmups_ = 0, timed_ = 0;
  bool open_ = false;
};

std::string spec_error(const Model& model, const std::string& spec) {
  try {
    run(model, InputSpec::parse(spec), {.warmup = 0, .iterations = 1});
  } catch (const InputSpecError& e) {
    return e.what();
  }
  ADD_FAILURE() << "spec '" << spec << "' was accepted";
  return {};
}

}  // namespace

TEST(Runner, TimesTheGpt2Sample) {
  const auto model = Model::load(test::tiny_gpt2());
  CountingObserver observer;
  const auto result = run(model, InputSpec::parse("ids:int64[2,16]"), {.warmup = 2, .iterations = 7, .observer = &observer});
  EXPECT_EQ(observer.warmups_, 2);
  EXPECT_EQ(observer.timed_, 7);
  ASSERT_EQ(result.samples_ms.size(), 7u);
  for (double s : result.samples_ms) EXPECT_GT(s, 0);
  EXPECT_EQ(result.stats.count, 7);
  EXPECT_LE(result.stats.p10_ms, result.stats.median_ms);
  EXPECT_LE(result.stats.median_ms, result.stats.p90_ms);
  EXPECT_EQ(result.timer, "steady-clock");
  EXPECT_FALSE(result.peak_memory_bytes.has_value());  // the CPU allocator keeps no statistics
  EXPECT_EQ(result.tokens_per_forward, 32);
  EXPECT_NEAR(result.tokens_per_second, 32 / (result.stats.median_ms / 1e3), 1e-6 * result.tokens_per_second);
  ASSERT_EQ(result.outputs.size(), 1u);
  EXPECT_EQ(result.outputs[0].name, "output");
  EXPECT_EQ(result.outputs[0].shape, (std::vector<int64_t>{2, 16, samples::gpt2_preset("tiny").vocab}));
  EXPECT_TRUE(result.outputs[0].all_finite);
  EXPECT_FALSE(result.device_name.empty());
  EXPECT_FALSE(result.timestamp.empty());
}

TEST(Runner, LlamaDictOutputIsNamedByKey) {
  for (const char* dtype : {"fp32", "bf16"}) {
    LoadOptions options;
    options.dtype = parse_dtype(dtype);
    const auto model = Model::load(test::tiny_llama(), options);
    const auto result = run(model, InputSpec::parse("ids:int64[2,11]"), {.warmup = 1, .iterations = 2});
    ASSERT_EQ(result.outputs.size(), 1u);
    EXPECT_EQ(result.outputs[0].name, "output['logits']");
    EXPECT_EQ(result.outputs[0].shape, (std::vector<int64_t>{2, 11, samples::llama_preset("tiny").vocab}));
    EXPECT_EQ(result.outputs[0].dtype, parse_dtype(dtype));
    EXPECT_TRUE(result.outputs[0].all_finite);
  }
}

TEST(Runner, SameSeedSameInputsOtherSeedOtherInputs) {
  const auto model = Model::load(test::tiny_gpt2());
  const auto spec = InputSpec::parse("ids:int64[2,8]");
  const auto a = make_inputs(model, spec, 1)[0].toTensor();
  const auto b = make_inputs(model, spec, 1)[0].toTensor();
  const auto c = make_inputs(model, spec, 2)[0].toTensor();
  EXPECT_TRUE(a.equal(b));
  EXPECT_FALSE(a.equal(c));
  // Token ids default to the embedding's rows.
  EXPECT_GE(a.min().item<int64_t>(), 0);
  EXPECT_LT(a.max().item<int64_t>(), samples::gpt2_preset("tiny").vocab);
}

TEST(Runner, RangesAreHonoured) {
  const auto model = Model::load(test::tiny_gpt2());
  const auto ids = make_inputs(model, InputSpec::parse("ids:int64[4,32]=7..9"), 5)[0].toTensor();
  EXPECT_GE(ids.min().item<int64_t>(), 7);
  EXPECT_LE(ids.max().item<int64_t>(), 8);
  EXPECT_EQ(ids.scalar_type(), at::kLong);
}

TEST(Runner, GivenTensors) {
  const auto model = Model::load(test::tiny_gpt2());
  const std::vector<c10::IValue> inputs = {torch::randint(0, 100, {1, 5}, torch::kLong)};
  const auto result = run_with_inputs(model, inputs, InputSpec::parse("ids:int64[1,5]"), {.warmup = 0, .iterations = 3});
  EXPECT_EQ(result.samples_ms.size(), 3u);
  EXPECT_EQ(result.outputs[0].shape[1], 5);
}

TEST(Runner, SpecWithTooManyInputs) {
  const auto model = Model::load(test::tiny_gpt2());
  const auto msg = spec_error(model, "ids:int64[1,4];mask:bool[1,4]");
  EXPECT_NE(msg.find("takes 1 input"), std::string::npos) << msg;
  EXPECT_NE(msg.find("gives 2"), std::string::npos) << msg;
}

TEST(Runner, SpecWithAnUnknownName) {
  const auto model = Model::load(test::tiny_gpt2());
  const auto msg = spec_error(model, "tokens:int64[1,4]");
  EXPECT_NE(msg.find("'tokens'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("forward("), std::string::npos) << msg;
}

TEST(Runner, SpecWithTheWrongDtype) {
  const auto model = Model::load(test::tiny_gpt2());
  const auto msg = spec_error(model, "ids:fp32[1,4]");
  EXPECT_NE(msg.find("ids:fp32[1,4]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("dtypes"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("frame #"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("Traceback"), std::string::npos) << msg;
}

TEST(Runner, SpecWithTheWrongRank) {
  const auto model = Model::load(test::tiny_gpt2());
  const auto msg = spec_error(model, "ids:int64[16]");
  EXPECT_NE(msg.find("ranks"), std::string::npos) << msg;
}

TEST(Runner, SequenceLongerThanThePositionTable) {
  const auto model = Model::load(test::tiny_gpt2());
  const auto positions = samples::gpt2_preset("tiny").positions;
  EXPECT_THROW(run(model, InputSpec::parse("ids:int64[1," + std::to_string(positions + 1) + "]"),
                   {.warmup = 0, .iterations = 1}),
               InputSpecError);
}

TEST(Runner, RejectsNonsenseIterationCounts) {
  const auto model = Model::load(test::tiny_gpt2());
  EXPECT_THROW(run(model, InputSpec::parse("ids:int64[1,4]"), {.warmup = 0, .iterations = 0}), UsageError);
  EXPECT_THROW(run(model, InputSpec::parse("ids:int64[1,4]"), {.warmup = -1, .iterations = 1}), UsageError);
}
