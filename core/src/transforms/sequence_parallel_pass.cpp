// Sequence parallelism on a tensor-parallel rank's graph
// (tensor_parallel_pass.h): all-reduce -> reduce-scatter along the sequence,
// token-local ops on this rank's tokens, all-gather where the whole sequence
// is read again.
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "graph_info.h"
#include "graph_match.h"
#include "passes.h"
#include "tensor_parallel_pass.h"

namespace mlopt::transforms {
namespace {

const c10::Symbol kAllReduce = c10::Symbol::fromQualString("mlopt::all_reduce");
const c10::Symbol kReduceScatter = c10::Symbol::fromQualString("mlopt::reduce_scatter");
const c10::Symbol kAllGather = c10::Symbol::fromQualString("mlopt::all_gather");
const c10::Symbol kShardOf = c10::Symbol::fromQualString("mlopt::shard_of");
constexpr int64_t kSeqDim = 1;  // hidden states are [batch, seq, hidden]

// Ops that compute each token from that token alone (their other operands
// broadcast over the sequence or are split with it).
bool token_local(const Node* n) {
  static const std::unordered_set<std::string> kOps = {
      "aten::add",   "aten::sub",     "aten::mul",  "aten::div",        "aten::dropout", "aten::feature_dropout",
      "aten::gelu",  "aten::silu",    "aten::relu", "aten::tanh",       "aten::sigmoid", "aten::pow",
      "aten::rsqrt", "aten::sqrt",    "aten::neg",  "aten::layer_norm", "aten::to",      "aten::type_as",
      "aten::contiguous", "aten::clone"};
  const std::string kind = n->kind().toQualString();
  if (kOps.count(kind)) return true;
  // A reduction over the hidden size alone (RMSNorm's mean(-1, keepdim)).
  if (kind == "aten::mean" || kind == "aten::sum") {
    const auto dims = constant_int_list(n->input(1));
    return dims && dims->size() == 1 && ((*dims)[0] == -1 || (*dims)[0] == 2);
  }
  return false;
}

class Shapes {
 public:
  explicit Shapes(const RewriteContext& c) : context_(c) {}
  const std::vector<int64_t>* of(const Value* v) const {
    if (auto it = extra_.find(v); it != extra_.end()) return &it->second;
    const auto* p = context_.shape_of(v);
    return p ? &p->shape : nullptr;
  }
  void set(const Value* v, std::vector<int64_t> shape) { extra_[v] = std::move(shape); }

 private:
  const RewriteContext& context_;
  std::unordered_map<const Value*, std::vector<int64_t>> extra_;
};

// How an operand of a token-local op relates to the split sequence.
enum class Operand { kSplit, kBroadcast, kWhole, kUnknown };

Operand operand_kind(const Value* v, const std::unordered_set<const Value*>& split, const Shapes& shapes,
                     int64_t seq) {
  if (split.count(v)) return Operand::kSplit;
  if (!v->type()->cast<c10::TensorType>()) return Operand::kBroadcast;  // scalars, dtypes, lists, None
  std::vector<int64_t> constant_shape;
  const auto* s = shapes.of(v);
  if (!s) {
    const auto t = constant_tensor(v);  // weights are constants, which the probe does not record
    if (!t) return Operand::kUnknown;
    constant_shape = t->sizes().vec();
    s = &constant_shape;
  }
  // Right-aligned broadcasting against [batch, seq, hidden].
  const int64_t at = static_cast<int64_t>(s->size()) - 3 + kSeqDim;
  if (at < 0 || (*s)[static_cast<std::size_t>(at)] == 1) return Operand::kBroadcast;
  if (s->size() == 3 && (*s)[kSeqDim] == seq) return Operand::kWhole;
  return Operand::kUnknown;
}

}  // namespace

SequenceParallelResult apply_sequence_parallel(torch::jit::Graph& graph, const RewriteContext& context, int world) {
  SequenceParallelResult result;
  Shapes shapes(context);
  std::unordered_set<const Value*> split;
  int64_t seq = -1;

  // 1. All-reduces of [batch, seq, hidden] -> reduce-scatters. GPT-2's
  // Conv1D reduces the flattened [tokens, hidden] and views it back: the
  // scatter moves after that view.
  std::vector<Node*> reduces;
  for (Node* n : graph.nodes()) {
    if (n->kind() == kAllReduce) reduces.push_back(n);
  }
  for (Node* reduce : reduces) {
    const std::string module = module_path_of(reduce);
    const auto miss = [&](const std::string& why) { result.missed.push_back({module, "mlopt::all_reduce", why}); };
    Value* in = reduce->input(0);
    const auto* in_shape = shapes.of(in);
    if (!in_shape) {
      miss("its input's shape was not probed");
      continue;
    }
    Value* full = reduce->output();
    std::vector<int64_t> shape = *in_shape;
    if (shape.size() == 2) {
      const auto users = data_users(full);
      Node* view = users.size() == 1 ? users[0] : nullptr;
      const auto* view_shape = view ? shapes.of(view->output()) : nullptr;
      if (!view || (view->kind() != c10::aten::view && view->kind() != c10::aten::reshape) || !view_shape ||
          view_shape->size() != 3 || view_shape->back() != shape.back() || !view->input(1)->node()->isBefore(reduce)) {
        miss("the reduced tensor is [tokens, hidden] and is not viewed back to [batch, seq, hidden]");
        continue;
      }
      // reduce(x).view(s) == reduce(x.view(s)): reduce the viewed tensor.
      view->replaceInput(0, in);
      view->output()->replaceAllUsesWith(full);
      reduce->replaceInput(0, view->output());
      view->moveBefore(reduce);
      in = view->output();
      shape = *view_shape;
    }
    if (shape.size() != 3) {
      miss("the reduced tensor is not [batch, seq, hidden]");
      continue;
    }
    if (seq >= 0 && shape[kSeqDim] != seq) {
      miss("a second sequence length");
      continue;
    }
    if (shape[kSeqDim] % world != 0) {
      miss("a sequence of " + std::to_string(shape[kSeqDim]) + " tokens does not split over " +
           std::to_string(world) + " ranks");
      continue;
    }
    seq = shape[kSeqDim];
    torch::jit::WithInsertPoint at(reduce);
    Value* part = graph.insert(kReduceScatter, {in, kSeqDim, int64_t{world}});
    part->setType(full->type());
    if (const auto cs = reduce->callstack()) part->node()->setCallStack(*cs);
    full->replaceAllUsesWith(part);
    reduce->destroy();
    shapes.set(part, shape);  // shapes are kept whole: membership in `split` says it is cut
    split.insert(part);
    ++result.reduce_scatters;
  }
  if (split.empty()) return result;

  // 2. Forward in graph order: a token-local op whose inputs are split or
  // broadcast (a whole operand is cut to this rank's tokens) gives a split
  // output of the same whole shape.
  std::unordered_set<const Node*> local;
  for (Node* n : graph.nodes()) {
    bool any = false;
    for (const Value* v : n->inputs()) any = any || split.count(v);
    if (!any || n->kind() == kReduceScatter || !token_local(n) || n->outputs().size() != 1) continue;
    const auto* out_shape = shapes.of(n->output());
    if (!out_shape && n->kind() != c10::aten::mean && n->kind() != c10::aten::sum) {
      // An op the tensor-parallel pass inserted (the residual add): as its split input.
      for (const Value* v : n->inputs()) {
        if (split.count(v)) out_shape = shapes.of(v);
      }
      if (out_shape) shapes.set(n->output(), *out_shape);
      out_shape = shapes.of(n->output());
    }
    if (!out_shape || out_shape->size() != 3 || (*out_shape)[kSeqDim] != seq) continue;
    bool ok = true;
    for (const Value* v : n->inputs()) ok = ok && operand_kind(v, split, shapes, seq) != Operand::kUnknown;
    if (!ok) continue;
    for (std::size_t i = 0; i < n->inputs().size(); ++i) {
      Value* v = n->input(i);
      if (operand_kind(v, split, shapes, seq) != Operand::kWhole) continue;
      torch::jit::WithInsertPoint at(n);
      Value* mine = graph.insert(kShardOf, {v, kSeqDim, int64_t{world}});
      mine->setType(v->type());
      n->replaceInput(i, mine);
    }
    split.insert(n->output());
    local.insert(n);
    ++result.local_ops;
  }

  // 3. Everything else that reads a split value reads it whole again.
  for (const Value* cv : split) {
    auto* v = const_cast<Value*>(cv);
    std::vector<torch::jit::Use> outside;
    for (const auto& use : v->uses()) {
      // dtype/device/rank reads do not depend on the sequence length.
      const auto k = use.user->kind();
      if (k == c10::prim::dtype || k == c10::prim::device || k == c10::aten::dim) continue;
      if (!local.count(use.user)) outside.push_back(use);
    }
    if (outside.empty()) continue;
    torch::jit::WithInsertPoint at(v->node()->next());
    Value* whole = graph.insert(kAllGather, {v, kSeqDim, int64_t{world}});
    whole->setType(v->type());
    if (const auto cs = v->node()->callstack()) whole->node()->setCallStack(*cs);
    for (const auto& use : outside) use.user->replaceInput(use.offset, whole);
    ++result.all_gathers;
  }
  torch::jit::EliminateDeadCode(graph.block());
  return result;
}

}  // namespace mlopt::transforms
