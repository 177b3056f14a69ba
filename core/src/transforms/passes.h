#pragma once
// Internal: the graph passes behind apply_transforms. Each rewrites the
// frozen forward graph in place and says what it matched and what it left
// alone, and why.
#include <torch/csrc/jit/ir/ir.h>

#include <vector>

#include "mlopt/core/transforms.h"
#include "mlopt/core/torch_bridge.h"

namespace mlopt::transforms {

using PassContext = RewriteContext;

// What a pass matched and left alone (TransformOutcome's two lists).
struct PassResult {
  std::vector<PassMatch> matched;
  std::vector<PassMiss> missed;
};

// softmax(scale * Q K^T + causal mask) V, written out (matmul, div/mul,
// masked_fill/where/additive mask, softmax, matmul) or as
// aten::scaled_dot_product_attention, with GQA's repeat of K/V -> mlopt::flash_attention.
PassResult rewrite_attention(torch::jit::Graph& graph, const PassContext& context);

// Linear/Conv1D -> GELU (erf, tanh, or the tanh formula written out)/ReLU/SiLU
// -> Linear/Conv1D, and SwiGLU/GeGLU (act(gate(x)) * up(x) -> down), with a
// residual add after the down projection fused -> mlopt::fused_mlp.
PassResult rewrite_mlp(torch::jit::Graph& graph, const PassContext& context);

// Linear layers whose output features are not a multiple of 8 (GPT-2's
// 50257-token head) -> the weight padded to a multiple of 64, the output
// sliced back: cuBLAS's aligned tensor-core kernels instead of slow ones.
PassResult rewrite_align_linear(torch::jit::Graph& graph, const PassContext& context);

// The probed shape of `v`, if any.
inline const ProbedTensor* shape_of(const PassContext& context, const torch::jit::Value* v) {
  return context.shape_of(v);
}

// Puts `replacement`'s node where `original` computed its value: same module
// call stack and source range (so the profiler attributes it to the module),
// then every use of `original` moves to `replacement`.
void replace_value(torch::jit::Value* original, torch::jit::Value* replacement, const torch::jit::Node* anchor);

}  // namespace mlopt::transforms
