// Ring attention over a whole model (context parallelism): each rank runs
// the model on its part of the sequence; attention sees every token through
// the ring (tensor_parallel_pass.h).
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <set>
#include <unordered_set>

#include "graph_info.h"
#include "graph_match.h"
#include "passes.h"
#include "tensor_parallel_pass.h"

namespace mlopt::transforms {
namespace {

const c10::Symbol kFlashAttention = c10::Symbol::fromQualString("mlopt::flash_attention");
const c10::Symbol kRingAttention = c10::Symbol::fromQualString("mlopt::ring_attention");
const c10::Symbol kRingSplit = c10::Symbol::fromQualString("mlopt::ring_split");
const c10::Symbol kRingGather = c10::Symbol::fromQualString("mlopt::ring_gather");
const c10::Symbol kRingPositions = c10::Symbol::fromQualString("mlopt::ring_positions");
const c10::Symbol kRingRows = c10::Symbol::fromQualString("mlopt::ring_rows");
constexpr int64_t kSeqDim = 1;  // model inputs and outputs are [batch, seq, ...]

bool has_seq(const RewriteContext& context, const Value* v, int64_t seq) {
  const auto* s = context.shape_of(v);
  return s && s->shape.size() >= 2 && s->shape[kSeqDim] == seq;
}

Value* insert_before(torch::jit::Graph& graph, Node* where, c10::Symbol op, std::vector<torch::jit::NamedValue> args,
                    const Value* like) {
  torch::jit::WithInsertPoint at(where);
  Value* v = graph.insert(op, args);
  v->setType(like->type());
  return v;
}

}  // namespace

RingResult apply_ring_attention(torch::jit::Graph& graph, const RewriteContext& context, int world) {
  RingResult result;
  std::vector<Node*> calls;
  for (Node* n : graph.nodes()) {
    if (n->kind() == kFlashAttention) calls.push_back(n);
  }
  if (calls.empty()) {
    result.problem = "no attention block to run as a ring (the attention pass matched none)";
    return result;
  }
  // One sequence length and one mask kind for every block: the split of the
  // tokens is the model's, not a block's.
  std::set<bool> causal;
  for (Node* call : calls) {
    const auto* q = context.shape_of(call->input(0));
    const auto* k = context.shape_of(call->input(1));
    const auto c = constant_bool(call->input(3));
    if (!q || !k || q->shape.size() != 4 || !c) {
      result.problem = "the attention shapes were not probed";
      return result;
    }
    if (q->shape[2] != k->shape[2] || (result.seq >= 0 && q->shape[2] != result.seq)) {
      result.problem = module_path_of(call) + ": queries and keys of different lengths (cross-attention or a "
                                              "cache), which the ring does not split";
      return result;
    }
    result.seq = q->shape[2];
    causal.insert(*c);
    int64_t kv = 1;
    for (const int64_t d : k->shape) kv *= d;
    result.kv_elements += kv;
  }
  if (causal.size() != 1) {
    result.problem = "causal and non-causal attention blocks in one model";
    return result;
  }
  result.zigzag = *causal.begin();
  const int64_t pieces = world * (result.zigzag ? 2 : 1);
  if (result.seq % pieces != 0) {
    result.problem = "a sequence of " + std::to_string(result.seq) + " tokens does not split into " +
                     std::to_string(pieces) + " equal chunks" + (result.zigzag ? " (2 per rank, zigzag)" : "") +
                     ": use a multiple of " + std::to_string(pieces);
    return result;
  }

  // Inputs with the sequence: this rank's chunks.
  Node* first = *graph.nodes().begin();
  for (Value* in : graph.inputs()) {
    if (!in->type()->cast<c10::TensorType>() || !has_seq(context, in, result.seq)) continue;
    Value* mine =
        insert_before(graph, first, kRingSplit, {in, kSeqDim, int64_t{world}, result.zigzag}, in);
    in->replaceAllUsesWith(mine);
    mine->node()->replaceInput(0, in);
    ++result.split_inputs;
  }
  if (result.split_inputs == 0) {
    result.problem = "no model input has the sequence as its dimension 1";
    return result;
  }
  // Positions counted by arange over the sequence become global ones.
  std::vector<Node*> ranges;
  for (Node* n : graph.nodes()) {
    const auto* s = n->kind() == c10::aten::arange ? context.shape_of(n->output()) : nullptr;
    if (s && s->shape == std::vector<int64_t>{result.seq}) ranges.push_back(n);
  }
  for (Node* n : ranges) {
    Value* local = n->output();
    Value* global = insert_before(graph, n->next(), kRingPositions, {local, int64_t{world}, result.zigzag}, local);
    local->replaceAllUsesWith(global);
    global->node()->replaceInput(0, local);
    ++result.positions;
  }
  // Position tables sliced to the sequence (HF's cos_cached[:seq_len]): the
  // rows of this rank's global positions.
  std::vector<Node*> slices;
  for (Node* n : graph.nodes()) {
    if (n->kind() != c10::aten::slice || n->inputs().size() != 5 || !constant_tensor(n->input(0))) continue;
    const auto dim = constant_int(n->input(1));
    const auto start = constant_int(n->input(2));
    const auto* s = context.shape_of(n->output());
    if (!dim || !s || *dim < 0 || *dim >= static_cast<int64_t>(s->shape.size())) continue;
    if ((start && *start != 0) || (!start && !is_none(n->input(2))) || constant_int(n->input(4)) != 1) continue;
    if (s->shape[static_cast<std::size_t>(*dim)] == result.seq) slices.push_back(n);
  }
  for (Node* n : slices) {
    Value* local = n->output();
    Value* rows = insert_before(graph, n->next(), kRingRows,
                                {local, n->input(0), n->input(1), int64_t{world}, result.zigzag}, local);
    local->replaceAllUsesWith(rows);
    rows->node()->replaceInput(0, local);
    ++result.positions;
  }
  // Attention through the ring.
  for (Node* call : calls) {
    Value* out = insert_before(graph, call, kRingAttention,
                              {call->input(0), call->input(1), call->input(2), call->input(3), call->input(4),
                               int64_t{world}},
                              call->output());
    replace_value(call->output(), out, call);
    call->destroy();
  }
  // Outputs with the sequence: gathered back in order on every rank.
  std::unordered_set<Value*> outputs;
  std::vector<Value*> stack(graph.outputs().begin(), graph.outputs().end());
  while (!stack.empty()) {
    Value* v = stack.back();
    stack.pop_back();
    const auto k = v->node()->kind();
    if (k == c10::prim::TupleConstruct || k == c10::prim::ListConstruct || k == c10::prim::DictConstruct) {
      for (Value* in : v->node()->inputs()) stack.push_back(in);
    } else if (v->type()->cast<c10::TensorType>() && has_seq(context, v, result.seq)) {
      outputs.insert(v);
    }
  }
  for (Value* v : outputs) {
    Value* whole = insert_before(graph, v->node()->next(), kRingGather, {v, kSeqDim, int64_t{world}, result.zigzag}, v);
    v->replaceAllUsesAfterNodeWith(whole->node(), whole);
    ++result.gathered_outputs;
  }
  result.attention = static_cast<int>(calls.size());
  torch::jit::EliminateDeadCode(graph.block());
  return result;
}

}  // namespace mlopt::transforms
