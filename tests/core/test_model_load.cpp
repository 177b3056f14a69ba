// Loading the sample models: module tree, frozen graph, conversions, shapes.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "mlopt/core/error.h"
#include "mlopt/core/model.h"
#include "mlopt/core/sample_models.h"
#include "mlopt/core/torch_bridge.h"
#include "test_support.h"

using namespace mlopt;

namespace {

int64_t sum_children(const ModuleInfo& m) {
  int64_t total = m.own_parameters;
  for (const auto& c : m.children) total += sum_children(c);
  return total;
}

}  // namespace

TEST(ModelLoad, Gpt2ModuleTree) {
  const auto model = Model::load(test::tiny_gpt2());
  const auto& info = model.info();
  const auto config = samples::gpt2_preset("tiny");
  EXPECT_EQ(info.root.total_parameters, samples::parameter_count(config));
  // The LM head shares the token embedding: summing every module's own
  // parameters counts it twice, the total once.
  EXPECT_EQ(sum_children(info.root), info.root.total_parameters + config.vocab * config.dim);
  EXPECT_EQ(info.root.total_bytes, info.root.total_parameters * 4);
  ASSERT_NE(info.find_module("transformer.h.1.attn"), nullptr);
  ASSERT_NE(info.find_module("transformer.h.0.mlp.c_fc"), nullptr);
  EXPECT_EQ(info.find_module("transformer.h.0.mlp.c_fc")->own_parameters, config.dim * 4 * config.dim + 4 * config.dim);
  EXPECT_EQ(info.find_module("transformer.h.7"), nullptr);
  EXPECT_GT(info.find_module("transformer.h.0.attn")->buffer_bytes, 0);  // the causal mask
  ASSERT_EQ(info.inputs.size(), 1u);
  EXPECT_EQ(info.inputs[0].type, "Tensor");
  ASSERT_TRUE(info.inputs[0].embedding_rows.has_value());
  EXPECT_EQ(*info.inputs[0].embedding_rows, config.vocab);
  EXPECT_EQ(info.dtype, DType::F32);
}

TEST(ModelLoad, EveryComputeNodeAttributedToItsModule) {
  const auto model = Model::load(test::tiny_gpt2());
  int softmax = 0, matmul_in_attn = 0;
  for (const auto& n : model.info().nodes) {
    if (n.kind == "aten::softmax") {
      ++softmax;
      EXPECT_NE(n.module_path.find(".attn"), std::string::npos) << n.module_path;
      EXPECT_EQ(n.module_path.rfind("transformer.h.", 0), 0u) << n.module_path;
    }
    if (n.kind == "aten::matmul" && n.module_path.find(".attn") != std::string::npos) ++matmul_in_attn;
    if (n.kind == "aten::tanh") {
      EXPECT_NE(n.module_path.find(".mlp"), std::string::npos) << n.module_path;
    }
  }
  EXPECT_EQ(softmax, 2);  // one per layer
  EXPECT_EQ(matmul_in_attn, 4);
  const auto hist = model.info().op_histogram();
  EXPECT_EQ(hist.count("prim::Constant"), 0u);
  EXPECT_GE(hist.at("aten::addmm"), 8);  // c_attn, c_proj, c_fc, c_proj per layer
}

TEST(ModelLoad, LlamaTreeAndDictOutput) {
  const auto model = Model::load(test::tiny_llama());
  const auto config = samples::llama_preset("tiny");
  EXPECT_EQ(model.info().root.total_parameters, samples::parameter_count(config));
  EXPECT_NE(model.info().find_module("model.layers.1.self_attn.k_proj"), nullptr);
  EXPECT_NE(model.info().find_module("model.layers.0.mlp.gate_proj"), nullptr);
  EXPECT_NE(model.info().output_type.find("Dict"), std::string::npos) << model.info().output_type;
}

TEST(ModelLoad, ConvertsFloatingPointOnly) {
  for (DType dtype : {DType::F16, DType::BF16}) {
    LoadOptions options;
    options.dtype = dtype;
    const auto model = Model::load(test::tiny_gpt2(), options);
    EXPECT_EQ(model.info().dtype, dtype);
    EXPECT_EQ(model.info().root.total_bytes, model.info().root.total_parameters * 2);
    // Converting the bool causal mask too would break the forward; it runs
    // (in bf16: libtorch 1.13 has no fp16 LayerNorm on the CPU).
    if (dtype == DType::BF16) {
      const auto out = forward(model, make_inputs(model, InputSpec::parse("ids:int64[1,5]"), 3));
      EXPECT_EQ(out.toTensor().scalar_type(), to_scalar_type(dtype));
    }
  }
  LoadOptions to_int;
  to_int.dtype = DType::I64;
  EXPECT_THROW(Model::load(test::tiny_gpt2(), to_int), UsageError);
}

TEST(ModelLoad, MissingCpuHalfKernelsAreExplained) {
  LoadOptions half;
  half.dtype = DType::F16;
  const auto model = Model::load(test::tiny_gpt2(), half);
  try {
    forward(model, make_inputs(model, InputSpec::parse("ids:int64[1,5]"), 3));
    GTEST_SKIP() << "this libtorch has fp16 kernels on the CPU";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("--dtype bf16"), std::string::npos) << e.what();
  }
}

TEST(ModelLoad, ConvertedReloadsWithOtherOptions) {
  const auto model = Model::load(test::tiny_llama());
  LoadOptions half;
  half.dtype = DType::F16;
  const auto converted = model.converted(half);
  EXPECT_EQ(converted.info().dtype, DType::F16);
  EXPECT_EQ(model.info().dtype, DType::F32);
}

TEST(ModelLoad, CudaWithoutGpuIsADeviceError) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "a GPU is present";
  LoadOptions options;
  options.device = parse_device("cuda");
  try {
    Model::load(test::tiny_gpt2(), options);
    FAIL();
  } catch (const DeviceError& e) {
    EXPECT_NE(std::string(e.what()).find("--device cpu"), std::string::npos) << e.what();
  }
}

TEST(ModelAnalyze, ShapesOfEveryTopLevelTensor) {
  const auto model = Model::load(test::tiny_gpt2());
  const auto config = samples::gpt2_preset("tiny");
  const auto info = model.analyze(InputSpec::parse("ids:int64[3,9]"));
  int with_shapes = 0;
  bool saw_logits = false, saw_scores = false;
  for (const auto& n : info.nodes) {
    for (const auto& o : n.outputs) {
      if (o.type != "Tensor" || n.kind == "prim::Constant") continue;
      ASSERT_TRUE(o.shape.has_value()) << n.kind;
      ++with_shapes;
      if (*o.shape == std::vector<int64_t>{3, 9, config.vocab}) saw_logits = true;
      if (n.kind == "aten::softmax") {
        EXPECT_EQ(*o.shape, (std::vector<int64_t>{3, config.heads, 9, 9}));
        EXPECT_EQ(*o.dtype, DType::F32);
        saw_scores = true;
      }
    }
  }
  EXPECT_GT(with_shapes, 20);
  EXPECT_TRUE(saw_logits);
  EXPECT_TRUE(saw_scores);
  // The model itself still runs normally afterwards.
  EXPECT_EQ(forward(model, make_inputs(model, InputSpec::parse("ids:int64[1,4]"), 0)).toTensor().size(1), 4);
}

TEST(ModelAnalyze, MismatchedSpecIsAnInputSpecError) {
  const auto model = Model::load(test::tiny_gpt2());
  EXPECT_THROW(model.analyze(InputSpec::parse("ids:fp32[2,4]")), InputSpecError);
}
