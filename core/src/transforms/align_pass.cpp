// The align_linear pass: a Linear whose output features are not a multiple
// of 8 (GPT-2's 50257-token LM head) makes every row of its fp16/bf16 output
// start at an address cuBLAS cannot load in 16-byte pieces, so it falls back
// to kernels several times slower than its tensor-core GEMMs (86 vs 716
// TFLOP/s measured for GPT-2's head on an H100). Padding the weight with
// zero rows to a multiple of 64 and slicing the output back restores the
// fast path; the values are the same.
//
// It also turns GPT-2's Conv1D (addmm with the weight stored [in, out]) into
// aten::linear with the weight transposed once: TorchScript's executor
// splits an addmm into mm + add, a second pass over the output to add the
// bias, while linear keeps the bias in cuBLASLt's GEMM epilogue (24 of the 37
// elementwise adds in GPT-2 small's optimized forward).
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <sstream>

#include "graph_info.h"
#include "graph_match.h"
#include "passes.h"

namespace mlopt::transforms {
namespace {

constexpr int64_t kPadTo = 64;
// Below this many weights a Linear costs too little to be worth a copy.
constexpr int64_t kMinWeights = int64_t{1} << 20;

}  // namespace

PassResult rewrite_align_linear(torch::jit::Graph& graph, const PassContext& context) {
  (void)context;
  PassResult result;
  std::vector<Node*> linears;
  for (Node* n : graph.nodes()) {
    if (n->kind() == c10::aten::linear) linears.push_back(n);
  }
  for (Node* linear : linears) {
    const std::string module = module_path_of(linear);
    const auto weight = constant_tensor(linear->input(1));
    if (!weight || weight->dim() != 2) {
      result.missed.push_back({module, kind_name(linear), "the weight is not a constant matrix"});
      continue;
    }
    const int64_t out = weight->size(0), in = weight->size(1);
    if (out % 8 == 0 || out * in < kMinWeights) continue;  // aligned, or too small to matter: not a candidate
    if (in % 8 != 0) {
      result.missed.push_back({module, kind_name(linear),
                               "in_features " + std::to_string(in) + " is not a multiple of 8 either (the input "
                               "rows would need padding too)"});
      continue;
    }
    const auto bias = constant_tensor(linear->input(2));
    if (!bias && !is_none(linear->input(2))) {
      result.missed.push_back({module, kind_name(linear), "the bias is not a constant"});
      continue;
    }
    const int64_t padded = (out + kPadTo - 1) / kPadTo * kPadTo;
    const auto w = at::cat({*weight, at::zeros({padded - out, in}, weight->options())}).contiguous();
    torch::jit::WithInsertPoint at(linear);
    auto* w_value = graph.insertConstant(w);
    auto* b_value = bias ? graph.insertConstant(at::cat({*bias, at::zeros({padded - out}, bias->options())}))
                         : graph.insertConstant(c10::IValue());
    auto* wide = graph.insert(c10::aten::linear, {linear->input(0), w_value, b_value});
    auto* narrow = graph.insert(c10::aten::slice, {wide, int64_t{-1}, int64_t{0}, out, int64_t{1}});
    if (const auto callstack = linear->callstack()) wide->node()->setCallStack(*callstack);
    replace_value(linear->output(), narrow, linear);
    std::ostringstream detail;
    detail << out << " -> " << padded << " output features (a padded copy of the weight, +"
           << (w.numel() * w.element_size() >> 20) << " MiB)";
    result.matched.push_back({module, detail.str()});
  }
  std::vector<Node*> addmms;
  for (Node* n : graph.nodes()) {
    if (n->kind() == c10::aten::addmm && n->inputs().size() == 5) addmms.push_back(n);
  }
  for (Node* addmm : addmms) {
    const auto bias = constant_tensor(addmm->input(0));
    const auto weight = constant_tensor(addmm->input(2));
    if (!bias || !weight || weight->dim() != 2 || bias->dim() != 1 || bias->size(0) != weight->size(1)) continue;
    if (constant_number(addmm->input(3)) != 1.0 || constant_number(addmm->input(4)) != 1.0) continue;
    torch::jit::WithInsertPoint at(addmm);
    auto* w_value = graph.insertConstant(weight->t().contiguous());
    auto* b_value = graph.insertConstant(*bias);
    auto* linear = graph.insert(c10::aten::linear, {addmm->input(1), w_value, b_value});
    replace_value(addmm->output(), linear, addmm);
    std::ostringstream detail;
    detail << "Conv1D addmm [" << weight->size(0) << ", " << weight->size(1)
           << "] -> linear (the bias in the GEMM epilogue, not a second pass)";
    result.matched.push_back({module_path_of(addmm), detail.str()});
  }
  torch::jit::EliminateDeadCode(graph.block());
  return result;
}

}  // namespace mlopt::transforms
