// FLOP and byte counts checked against hand-computed values for each op
// family, and the roofline classification on synthetic ceilings.
#include <gtest/gtest.h>

#include <cmath>

#include "mlopt/profiler/cost_model.h"

using namespace mlopt;
using namespace mlopt::profiler;

namespace {

TensorArg tensor(std::vector<int64_t> shape, DType dtype = DType::F32) { return {std::move(shape), dtype, true, 0}; }
TensorArg scalar(double value) { return {{}, DType::F32, false, value}; }
TensorArg none() { return scalar(0); }
// An int list argument (dims) as a non-tensor holding the values in `shape`.
TensorArg int_list(std::vector<int64_t> values) { return {std::move(values), DType::I64, false, 0}; }

void expect_cost(const OpCost& cost, double flops, double bytes) {
  EXPECT_TRUE(cost.known);
  EXPECT_DOUBLE_EQ(cost.flops, flops);
  EXPECT_DOUBLE_EQ(cost.bytes, bytes);
}

DeviceCeilings synthetic_ceilings(double launch_us = 5) {
  DeviceCeilings c;
  c.device_name = "synthetic";
  c.matmul_tflops = 100;  // ridge point: 100e12 / 1000e9 = 100 FLOP/byte
  c.copy_gbps = 1000;
  c.launch_overhead_us = launch_us;
  return c;
}

}  // namespace

// ---- matrix products ----------------------------------------------------------

TEST(CostModel, MatmulOfAttentionScores) {
  // [B,H,S,D] x [B,H,D,S] in fp16: 2*B*H*S*S*D FLOPs.
  const auto cost = op_cost("aten::matmul", {tensor({2, 12, 128, 64}, DType::F16), tensor({2, 12, 64, 128}, DType::F16)});
  const double q = 2 * 12 * 128 * 64 * 2, scores = 2 * 12 * 128 * 128 * 2;
  expect_cost(cost, 2.0 * 2 * 12 * 128 * 128 * 64, 2 * q + scores);
}

TEST(CostModel, MatmulBroadcastsBatchDimensions) {
  // [8,1,32,16] x [4,16,8] -> [8,4,32,8]: the second operand is read once.
  const auto cost = op_cost("aten::matmul", {tensor({8, 1, 32, 16}), tensor({4, 16, 8})});
  expect_cost(cost, 2.0 * 8 * 4 * 32 * 8 * 16, (8 * 32 * 16 + 4 * 16 * 8 + 8 * 4 * 32 * 8) * 4.0);
}

TEST(CostModel, MatmulWithVectors) {
  expect_cost(op_cost("aten::matmul", {tensor({5}), tensor({5})}), 10, (5 + 5 + 1) * 4.0);            // dot
  expect_cost(op_cost("aten::matmul", {tensor({3, 5}), tensor({5})}), 30, (15 + 5 + 3) * 4.0);        // -> [3]
  expect_cost(op_cost("aten::matmul", {tensor({5}), tensor({2, 5, 7})}), 140, (5 + 70 + 14) * 4.0);  // -> [2,7]
  expect_cost(op_cost("aten::matmul", {tensor({2, 3, 5}), tensor({5})}), 60, (30 + 5 + 6) * 4.0);    // -> [2,3]
}

TEST(CostModel, MismatchedProductIsUnknown) {
  EXPECT_FALSE(op_cost("aten::matmul", {tensor({3, 5}), tensor({4, 7})}).known);
  EXPECT_FALSE(op_cost("aten::mm", {tensor({3, 5})}).known);
  EXPECT_FALSE(op_cost("aten::matmul", {tensor({2, 3, 5}), tensor({3, 5, 2})}).known);  // batch 2 vs 3
  // mm and bmm take exactly 2-D and 3-D operands: anything else is not their call.
  EXPECT_FALSE(op_cost("aten::mm", {tensor({2, 3, 5}), tensor({5, 4})}).known);
  EXPECT_FALSE(op_cost("aten::bmm", {tensor({3, 5}), tensor({5, 4})}).known);
  EXPECT_FALSE(op_cost("aten::addmm", {tensor({4}), tensor({2, 3, 5}), tensor({5, 4})}).known);
}

TEST(CostModel, MmAndBmm) {
  expect_cost(op_cost("aten::mm", {tensor({64, 32}, DType::BF16), tensor({32, 16}, DType::BF16)}),
              2.0 * 64 * 16 * 32, (64 * 32 + 32 * 16 + 64 * 16) * 2.0);
  expect_cost(op_cost("aten::bmm", {tensor({4, 8, 16}), tensor({4, 16, 32})}), 2.0 * 4 * 8 * 32 * 16,
              (4 * 8 * 16 + 4 * 16 * 32 + 4 * 8 * 32) * 4.0);
}

TEST(CostModel, AddmmIsMatmulPlusBias) {
  // GPT-2's Conv1D: addmm(bias[2304], x[128,768], w[768,2304], beta, alpha).
  const auto cost = op_cost("aten::addmm", {tensor({2304}), tensor({128, 768}), tensor({768, 2304}), scalar(1), scalar(1)});
  expect_cost(cost, 2.0 * 128 * 2304 * 768 + 128 * 2304, (2304 + 128 * 768 + 768 * 2304 + 128 * 2304) * 4.0);
}

TEST(CostModel, Baddbmm) {
  const auto cost = op_cost("aten::baddbmm", {tensor({4, 8, 32}), tensor({4, 8, 16}), tensor({4, 16, 32}), scalar(1), scalar(1)});
  expect_cost(cost, 2.0 * 4 * 8 * 32 * 16 + 4 * 8 * 32, (4 * 8 * 32 * 2 + 4 * 8 * 16 + 4 * 16 * 32) * 4.0);
}

TEST(CostModel, LinearWithAndWithoutBias) {
  // x[2,10,64] (M = 20), w[32,64], b[32] in bf16.
  expect_cost(op_cost("aten::linear", {tensor({2, 10, 64}, DType::BF16), tensor({32, 64}, DType::BF16),
                                       tensor({32}, DType::BF16)}),
              2.0 * 20 * 32 * 64 + 20 * 32, (1280 + 2048 + 32 + 640) * 2.0);
  expect_cost(op_cost("aten::linear", {tensor({2, 10, 64}, DType::BF16), tensor({32, 64}, DType::BF16), none()}),
              2.0 * 20 * 32 * 64, (1280 + 2048 + 640) * 2.0);
  EXPECT_FALSE(op_cost("aten::linear", {tensor({2, 10, 64}), tensor({32, 63})}).known);
}

// ---- attention ----------------------------------------------------------------

TEST(CostModel, GroupedQueryAttention) {
  // 32 query heads over 4 kv heads; 4*B*H*Sq*Sk*D, halved when causal.
  const auto q = tensor({1, 32, 128, 64}, DType::F16);
  const auto kv = tensor({1, 4, 128, 64}, DType::F16);
  const double full = 4.0 * 1 * 32 * 128 * 128 * 64;
  const double bytes = (32 * 128 * 64 * 2.0 + 2 * 4 * 128 * 64) * 2;  // q, k, v and the output
  // scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
  expect_cost(op_cost("aten::scaled_dot_product_attention", {q, kv, kv, none(), scalar(0), scalar(0)}), full, bytes);
  expect_cost(op_cost("aten::scaled_dot_product_attention", {q, kv, kv, none(), scalar(0), scalar(1)}), full / 2, bytes);
  // Without the optional arguments: not causal.
  expect_cost(op_cost("aten::scaled_dot_product_attention", {q, kv, kv}), full, bytes);
  // mlopt::flash_attention(q, k, v, is_causal)
  expect_cost(op_cost("mlopt::flash_attention", {q, kv, kv, scalar(1)}), full / 2, bytes);
  // _scaled_dot_product_flash_attention(q, k, v, dropout_p, is_causal)
  expect_cost(op_cost("aten::_scaled_dot_product_flash_attention", {q, kv, kv, scalar(0), scalar(1)}), full / 2, bytes);
}

TEST(CostModel, FusedMlpCountsBothGemmsAndNoIntermediate) {
  // GPT-2's MLP on 2 x 10 tokens: 768 -> 3072 -> 768, Conv1D weights, biases, a residual.
  const auto x = tensor({2, 10, 768}, DType::F16);
  const auto w_up = tensor({768, 3072}, DType::F16);
  const auto b_up = tensor({3072}, DType::F16);
  const auto w_down = tensor({3072, 768}, DType::F16);
  const auto b_down = tensor({768}, DType::F16);
  const double flops = 2.0 * 20 * (768 * 3072 + 3072 * 768);
  const double bytes = 2.0 * (20 * 768 * 3 + 768 * 3072 * 2 + 3072 + 768);  // x, residual, out; weights; biases
  expect_cost(op_cost("mlopt::fused_mlp", {x, w_up, b_up, w_down, b_down, scalar(0), scalar(0), scalar(0), x,
                                           scalar(0)}),
              flops, bytes);
  EXPECT_FALSE(op_cost("mlopt::fused_mlp", {x, none(), none(), w_down}).known);
}

TEST(CostModel, AttentionMaskIsRead) {
  const auto q = tensor({2, 4, 16, 8});
  const auto mask = tensor({16, 16}, DType::Bool);
  const auto cost = op_cost("aten::scaled_dot_product_attention", {q, q, q, mask, scalar(0), scalar(0)});
  expect_cost(cost, 4.0 * 2 * 4 * 16 * 16 * 8, 4 * (2 * 4 * 16 * 8 * 4.0) + 256);
}

TEST(CostModel, AttentionWithMismatchedHeadSizeIsUnknown) {
  EXPECT_FALSE(op_cost("aten::scaled_dot_product_attention",
                       {tensor({1, 4, 16, 64}), tensor({1, 4, 16, 32}), tensor({1, 4, 16, 64})})
                   .known);
}

// ---- row-wise, gather ----------------------------------------------------------

TEST(CostModel, SoftmaxAndLayerNorm) {
  expect_cost(op_cost("aten::softmax", {tensor({2, 4, 8}), scalar(-1), none()}), 5.0 * 64, 64 * 4.0 * 2);
  expect_cost(op_cost("aten::log_softmax", {tensor({2, 4, 8}, DType::F16), scalar(-1), none()}), 5.0 * 64, 64 * 2.0 * 2);
  // layer_norm(x, normalized_shape, weight, bias, eps, cudnn_enable)
  expect_cost(op_cost("aten::layer_norm", {tensor({2, 8, 16}), int_list({16}), tensor({16}), tensor({16}), scalar(1e-5),
                                           scalar(1)}),
              8.0 * 256, (256 + 16 + 16 + 256) * 4.0);
}

TEST(CostModel, EmbeddingReadsOnlyTheGatheredRows) {
  // weight [1000, 64] fp16, ids [2, 8] int64 -> [2, 8, 64]
  const auto cost = op_cost("aten::embedding", {tensor({1000, 64}, DType::F16), tensor({2, 8}, DType::I64), scalar(-1),
                                                scalar(0), scalar(0)});
  expect_cost(cost, 0, 16 * 8 + 2 * (16 * 64 * 2.0));
}

// ---- elementwise, reductions, copies --------------------------------------------

TEST(CostModel, ElementwiseBroadcasts) {
  // [4,1,8] + [3,1] -> [4,3,8]: inputs read at their own size, output written once.
  expect_cost(op_cost("aten::add", {tensor({4, 1, 8}), tensor({3, 1}), scalar(1)}), 96, (32 + 3 + 96) * 4.0);
  // In-place and overload-qualified names cost the same.
  expect_cost(op_cost("aten::add_", {tensor({4, 1, 8}), tensor({3, 1}), scalar(1)}), 96, (32 + 3 + 96) * 4.0);
  expect_cost(op_cost("aten::add.Tensor", {tensor({4, 1, 8}), tensor({3, 1}), scalar(1)}), 96, (32 + 3 + 96) * 4.0);
  EXPECT_FALSE(op_cost("aten::add", {tensor({3}), tensor({4})}).known);
}

TEST(CostModel, ElementwiseWithScalarsAndMixedTypes) {
  expect_cost(op_cost("aten::mul", {tensor({2, 3}, DType::F16), scalar(0.5)}), 6, 12 + 12);
  // An int64 tensor times fp16 gives fp16.
  expect_cost(op_cost("aten::mul", {tensor({4}, DType::I64), tensor({4}, DType::F16)}), 4, 32 + 8 + 8);
  // Comparisons write bool.
  expect_cost(op_cost("aten::eq", {tensor({4, 4}, DType::I64), tensor({4}, DType::I64)}), 16, 16 * 8 + 4 * 8 + 16);
  // masked_fill(x fp16 [2,4,4], mask bool [4,4], value)
  expect_cost(op_cost("aten::masked_fill", {tensor({2, 4, 4}, DType::F16), tensor({4, 4}, DType::Bool), scalar(-1e4)}),
              32, 64 + 16 + 64);
  // where(cond [8], a [8], b [1])
  expect_cost(op_cost("aten::where", {tensor({8}, DType::Bool), tensor({8}), tensor({1})}), 8, 8 + 32 + 4 + 32);
  // Scalar arithmetic in the interpreter launches nothing.
  expect_cost(op_cost("aten::add", {scalar(2), scalar(3)}), 0, 0);
}

TEST(CostModel, TranscendentalsCountSeveralFlops) {
  const auto x = tensor({10, 10});
  const double io = 100 * 4.0 * 2;
  expect_cost(op_cost("aten::tanh", {x}), 4 * 100, io);
  expect_cost(op_cost("aten::exp", {x}), 4 * 100, io);
  expect_cost(op_cost("aten::rsqrt", {x}), 4 * 100, io);
  expect_cost(op_cost("aten::silu", {x}), 5 * 100, io);
  expect_cost(op_cost("aten::gelu", {x}), 8 * 100, io);
  expect_cost(op_cost("aten::relu", {x}), 100, io);
  expect_cost(op_cost("aten::pow", {x, scalar(2)}), 100, io);    // x*x
  expect_cost(op_cost("aten::pow", {x, scalar(3)}), 200, io);    // x*x*x
  expect_cost(op_cost("aten::pow", {x, scalar(3.5)}), 400, io);  // exp/log
}

TEST(CostModel, RmsNormChainReductions) {
  // mean(x [2,8,16], dim=[-1], keepdim=True) -> [2,8,1]
  expect_cost(op_cost("aten::mean", {tensor({2, 8, 16}), int_list({-1}), scalar(1), none()}), 256, (256 + 16) * 4.0);
  // sum(x, dim=1) without keepdim -> [2,16]
  expect_cost(op_cost("aten::sum", {tensor({2, 8, 16}), scalar(1), scalar(0)}), 256, (256 + 32) * 4.0);
  // A full reduction writes one element.
  expect_cost(op_cost("aten::sum", {tensor({2, 8, 16})}), 256, (256 + 1) * 4.0);
  // max(a, b) with two tensors is elementwise.
  expect_cost(op_cost("aten::max", {tensor({4}), tensor({4})}), 4, 48);
}

TEST(CostModel, Copies) {
  expect_cost(op_cost("aten::contiguous", {tensor({2, 3}), scalar(0)}), 0, 48);
  expect_cost(op_cost("aten::clone", {tensor({2, 3}, DType::BF16), none()}), 0, 24);
  expect_cost(op_cost("aten::copy_", {tensor({4}, DType::F16), tensor({4}), scalar(0)}), 0, 8 + 16);
  // cat of tensors given as separate inputs, then the dim.
  expect_cost(op_cost("aten::cat", {tensor({2, 3}), tensor({2, 5}), scalar(1)}), 0, 2 * (6 + 10) * 4.0);
  // A tensor list the caller could not describe: unknown, not free.
  EXPECT_FALSE(op_cost("aten::cat", {none(), scalar(1)}).known);
}

TEST(CostModel, ViewsAreKnownAndFree) {
  for (const char* op : {"aten::view", "aten::reshape", "aten::permute", "aten::transpose", "aten::slice",
                         "aten::select", "aten::unsqueeze", "aten::expand", "aten::size", "aten::split",
                         "aten::detach", "aten::dropout", "prim::ListConstruct", "prim::TupleUnpack"}) {
    const auto cost = op_cost(op, {tensor({2, 64, 768}), int_list({2, 64, 12, 64})});
    EXPECT_TRUE(cost.known) << op;
    EXPECT_EQ(cost.flops, 0) << op;
    EXPECT_EQ(cost.bytes, 0) << op;
  }
}

TEST(CostModel, UnknownOps) {
  for (const char* op : {"aten::conv2d", "aten::fft_rfft", "custom::thing", "aten::definitely_not_an_op"}) {
    const auto cost = op_cost(op, {tensor({1, 3, 32, 32}), tensor({8, 3, 3, 3})});
    EXPECT_FALSE(cost.known) << op;
    EXPECT_EQ(cost.flops, 0) << op;
    EXPECT_EQ(cost.bytes, 0) << op;
  }
}

// ---- classify -------------------------------------------------------------------

TEST(Roofline, ComputeBoundGemm) {
  // 1 TFLOP over 100 MB (10,000 FLOP/byte) in 20 ms: 50 TFLOP/s, half the peak.
  const auto r = classify({1e12, 1e8, true}, 0.02, synthetic_ceilings());
  EXPECT_EQ(r.bound, Bound::Compute);
  EXPECT_DOUBLE_EQ(r.achieved_tflops, 50);
  EXPECT_DOUBLE_EQ(r.achieved_gbps, 5);
  EXPECT_DOUBLE_EQ(r.share_of_ceiling, 0.5);
  EXPECT_DOUBLE_EQ(r.ideal_seconds, 0.01);
}

TEST(Roofline, MemoryBoundElementwise) {
  // 0.1 GFLOP over 1.2 GB in 2 ms: 600 GB/s of 1000.
  const auto r = classify({1e8, 1.2e9, true}, 2e-3, synthetic_ceilings());
  EXPECT_EQ(r.bound, Bound::Memory);
  EXPECT_DOUBLE_EQ(r.achieved_gbps, 600);
  EXPECT_DOUBLE_EQ(r.share_of_ceiling, 0.6);
  EXPECT_DOUBLE_EQ(r.ideal_seconds, 1.2e-3);
}

TEST(Roofline, LatencyBoundTinyOp) {
  // 12 kB in 4 µs (under 3 launch overheads of 5 µs): 3 GB/s, 0.3% of the copy ceiling.
  const auto r = classify({1e3, 1.2e4, true}, 4e-6, synthetic_ceilings());
  EXPECT_EQ(r.bound, Bound::Latency);
  EXPECT_DOUBLE_EQ(r.share_of_ceiling, 1.2e4 / 4e-6 / 1e12);
  EXPECT_DOUBLE_EQ(r.ideal_seconds, 1.2e-8);
}

TEST(Roofline, ShortButAtItsCeilingIsNotLatency) {
  // 10 MB in 10 µs runs at the copy ceiling: memory-bound however short.
  EXPECT_EQ(classify({1e6, 1e7, true}, 1e-5, synthetic_ceilings()).bound, Bound::Memory);
  // Long and far from its ceiling: still memory-bound (slow, not launch-bound).
  EXPECT_EQ(classify({1e6, 1e7, true}, 1.0, synthetic_ceilings()).bound, Bound::Memory);
}

TEST(Roofline, WithoutLaunchOverheadFiveMicrosecondsIsShort) {
  EXPECT_EQ(classify({1e3, 1e4, true}, 4e-6, synthetic_ceilings(0)).bound, Bound::Latency);
  EXPECT_EQ(classify({1e3, 1e4, true}, 6e-6, synthetic_ceilings(0)).bound, Bound::Memory);
}

TEST(Roofline, NoDivisionByZero) {
  const auto finite = [](const Roofline& r) {
    return std::isfinite(r.achieved_tflops) && std::isfinite(r.achieved_gbps) && std::isfinite(r.share_of_ceiling) &&
           std::isfinite(r.ideal_seconds);
  };
  // Unknown cost.
  auto r = classify({}, 1e-3, synthetic_ceilings());
  EXPECT_EQ(r.bound, Bound::Unknown);
  EXPECT_TRUE(finite(r));
  // Zero time: the bound from intensity, no rates.
  r = classify({1e9, 1e6, true}, 0, synthetic_ceilings());
  EXPECT_EQ(r.bound, Bound::Compute);
  EXPECT_EQ(r.achieved_tflops, 0);
  EXPECT_TRUE(finite(r));
  // A free op that takes time is overhead; without time there is nothing to say.
  EXPECT_EQ(classify({0, 0, true}, 1e-6, synthetic_ceilings()).bound, Bound::Latency);
  EXPECT_EQ(classify({0, 0, true}, 0, synthetic_ceilings()).bound, Bound::Unknown);
  // FLOPs without bytes: infinitely intense.
  r = classify({1e12, 0, true}, 0.02, synthetic_ceilings());
  EXPECT_EQ(r.bound, Bound::Compute);
  EXPECT_TRUE(finite(r));
  // No ceilings measured: rates still reported, no bound.
  r = classify({1e9, 1e6, true}, 1e-3, DeviceCeilings{});
  EXPECT_EQ(r.bound, Bound::Unknown);
  EXPECT_DOUBLE_EQ(r.achieved_tflops, 1.0);
  EXPECT_TRUE(finite(r));
}

TEST(Roofline, BoundNames) {
  EXPECT_EQ(to_string(Bound::Compute), "compute");
  EXPECT_EQ(to_string(Bound::Memory), "memory");
  EXPECT_EQ(to_string(Bound::Latency), "latency");
  EXPECT_EQ(to_string(Bound::Unknown), "unknown");
}
