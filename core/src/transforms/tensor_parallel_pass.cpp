// Tensor-parallel sharding of one rank's graph (tensor_parallel_pass.h).
#include "tensor_parallel_pass.h"

#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <algorithm>
#include <optional>
#include <set>
#include <sstream>
#include <unordered_set>

#include "graph_info.h"
#include "graph_match.h"
#include "passes.h"

namespace mlopt::transforms {
namespace {

const c10::Symbol kFlashAttention = c10::Symbol::fromQualString("mlopt::flash_attention");
const c10::Symbol kFusedMlp = c10::Symbol::fromQualString("mlopt::fused_mlp");
const c10::Symbol kAllReduce = c10::Symbol::fromQualString("mlopt::all_reduce");

// A matrix multiply by a constant weight: aten::linear (weight [out, in]),
// aten::addmm with beta = alpha = 1 (Conv1D: weight [in, out]) or
// aten::matmul (weight [in, out]).
struct Projection {
  Node* node = nullptr;
  at::Tensor weight;
  int weight_input = 0;
  std::optional<at::Tensor> bias;
  int bias_input = -1;  // -1: no bias operand
  bool in_out = false;
  int64_t in() const { return weight.size(in_out ? 0 : 1); }
  int64_t out() const { return weight.size(in_out ? 1 : 0); }
};

std::optional<Projection> as_projection(Node* n) {
  Projection p;
  p.node = n;
  if (n->kind() == c10::aten::linear) {
    p.weight_input = 1;
    p.bias_input = 2;
  } else if (n->kind() == c10::aten::addmm && n->inputs().size() == 5) {
    if (constant_number(n->input(3)) != 1.0 || constant_number(n->input(4)) != 1.0) return std::nullopt;
    p.weight_input = 2;
    p.bias_input = 0;
    p.in_out = true;
  } else if (n->kind() == c10::aten::matmul) {
    p.weight_input = 1;
    p.in_out = true;
  } else {
    return std::nullopt;
  }
  const auto w = constant_tensor(n->input(p.weight_input));
  if (!w || w->dim() != 2) return std::nullopt;
  p.weight = *w;
  if (p.bias_input >= 0) {
    p.bias = constant_tensor(n->input(p.bias_input));
    if (!p.bias && !is_none(n->input(p.bias_input))) return std::nullopt;
    if (p.bias && (p.bias->dim() != 1 || p.bias->size(0) != p.out())) return std::nullopt;
  }
  return p;
}

int64_t bytes_of(const at::Tensor& t) { return t.numel() * static_cast<int64_t>(t.element_size()); }

// Splits [0, total) along `dim` into consecutive parts and keeps this rank's
// 1/world of each: a fused q/k/v projection keeps its heads of q, of k and
// of v.
at::Tensor keep_rank_parts(const at::Tensor& t, int64_t dim, const std::vector<int64_t>& parts, int rank,
                           int world) {
  std::vector<at::Tensor> pieces;
  int64_t offset = 0;
  for (const int64_t part : parts) {
    const int64_t each = part / world;
    pieces.push_back(t.narrow(dim, offset + rank * each, each));
    offset += part;
  }
  return at::cat(pieces, dim).contiguous();
}

struct Heads {
  int64_t q = 0, kv = 0, dim = 0;
  bool divides(int world) const { return q % world == 0 && kv % world == 0; }
};

// Rewrites one size list (a view/reshape target): [..., H, D] with H a head
// count becomes [..., H / world, D]; [..., H * D] becomes [..., H * D / world].
// Returns the new list value, or null when the list has no such constant.
Value* scaled_size_list(torch::jit::Graph& graph, Value* list, const Heads& h, int world) {
  const std::set<int64_t> head_counts = {h.q, h.kv};
  const std::set<int64_t> widths = {h.q * h.dim, h.kv * h.dim, (h.q + 2 * h.kv) * h.dim};
  // The index to change among `values` (constants or nullopt), if any.
  const auto pick = [&](const std::vector<std::optional<int64_t>>& values) -> std::optional<std::size_t> {
    const std::size_t n = values.size();
    if (n >= 2 && values[n - 1] == h.dim && values[n - 2] && head_counts.count(*values[n - 2])) return n - 2;
    if (n >= 1 && values[n - 1] && widths.count(*values[n - 1])) return n - 1;
    return std::nullopt;
  };
  if (Node* construct = produced_by(list, c10::prim::ListConstruct)) {
    std::vector<std::optional<int64_t>> values;
    for (Value* v : construct->inputs()) values.push_back(constant_int(v));
    const auto i = pick(values);
    if (!i) return nullptr;
    std::vector<Value*> inputs(construct->inputs().begin(), construct->inputs().end());
    inputs[*i] = graph.insertConstant(*values[*i] / world);
    auto* fresh = graph.insertNode(graph.createList(c10::IntType::get(), inputs));
    return fresh->output();
  }
  if (auto constant = constant_int_list(list)) {
    std::vector<std::optional<int64_t>> values(constant->begin(), constant->end());
    const auto i = pick(values);
    if (!i) return nullptr;
    (*constant)[*i] /= world;
    return graph.insertConstant(*constant);
  }
  // HF: tensor.size()[:-1] + (num_heads, head_dim): list concatenation.
  if (Node* add = produced_by(list, c10::aten::add); add && add->inputs().size() == 2) {
    Value* tail = scaled_size_list(graph, add->input(1), h, world);
    if (!tail) return nullptr;
    return graph.insert(c10::aten::add, {add->input(0), tail});
  }
  return nullptr;
}

// The view/reshape/split nodes between the projections and the attention
// call get this rank's head counts. Returns how many were changed.
int rescale_shapes(torch::jit::Graph& graph, const std::vector<Node*>& region, const Heads& h, int world) {
  int changed = 0;
  const std::set<int64_t> widths = {h.q * h.dim, h.kv * h.dim};
  for (Node* n : region) {
    torch::jit::WithInsertPoint at(n);
    const auto k = n->kind();
    if (k == c10::aten::view || k == c10::aten::reshape || k == c10::aten::_unsafe_view) {
      if (Value* list = scaled_size_list(graph, n->input(1), h, world)) {
        n->replaceInput(1, list);
        ++changed;
      }
    } else if (k == c10::aten::split || k == c10::aten::split_with_sizes) {
      if (auto size = constant_int(n->input(1)); size && widths.count(*size)) {
        n->replaceInput(1, graph.insertConstant(*size / world));
        ++changed;
      } else if (auto sizes = constant_int_list(n->input(1))) {
        if (!std::all_of(sizes->begin(), sizes->end(), [&](int64_t s) { return widths.count(s) > 0; })) continue;
        for (auto& s : *sizes) s /= world;
        n->replaceInput(1, graph.insertConstant(*sizes));
        ++changed;
      }
    }
  }
  return changed;
}

// The nodes on data paths from `from`'s outputs to `to` (exclusive), or
// backwards: found by walking inputs from `to` (never through shape reads,
// which reach anywhere) and keeping those `from` reaches.
struct Upstream {
  std::vector<Projection> projections;  // where the walk stopped
  std::vector<Node*> region;            // between them and the anchor
  std::string problem;
};

Upstream walk_up(Node* anchor, const std::vector<Value*>& starts) {
  Upstream up;
  std::unordered_set<Node*> seen;
  std::vector<Value*> stack(starts.begin(), starts.end());
  std::vector<Node*> visited;
  while (!stack.empty()) {
    Value* v = stack.back();
    stack.pop_back();
    Node* p = v->node();
    if (p->kind() == c10::prim::Param || p->kind() == c10::prim::Constant || !seen.insert(p).second) continue;
    if (is_metadata_use(p)) continue;
    if (auto proj = as_projection(p)) {
      up.projections.push_back(*proj);
      continue;
    }
    if (p->kind() == kFlashAttention || p->kind() == kFusedMlp || p->kind() == kAllReduce) continue;
    visited.push_back(p);
    for (Value* in : p->inputs()) stack.push_back(in);
  }
  // Keep the visited nodes a projection's output reaches.
  std::unordered_set<Node*> reached;
  std::vector<Value*> frontier;
  for (const auto& proj : up.projections) frontier.push_back(proj.node->output());
  const std::unordered_set<Node*> candidates(visited.begin(), visited.end());
  while (!frontier.empty()) {
    Value* v = frontier.back();
    frontier.pop_back();
    for (const auto& use : v->uses()) {
      Node* u = use.user;
      if (u == anchor || !candidates.count(u) || !reached.insert(u).second) continue;
      for (Value* o : u->outputs()) frontier.push_back(o);
    }
  }
  for (Node* n : visited) {
    if (reached.count(n)) up.region.push_back(n);
  }
  if (up.projections.empty()) up.problem = "q, k and v do not come from projections by constant weights";
  return up;
}

struct Downstream {
  std::optional<Projection> projection;
  std::vector<Node*> region;
  std::string problem;
};

// From the attention output to the one projection it feeds (the output
// projection), through layout ops only.
Downstream walk_down(Node* anchor, int64_t width) {
  Downstream down;
  std::vector<Value*> frontier = {anchor->output()};
  std::unordered_set<Node*> seen;
  while (!frontier.empty()) {
    Value* v = frontier.back();
    frontier.pop_back();
    for (Node* u : data_users(v)) {
      if (!seen.insert(u).second) continue;
      if (auto proj = as_projection(u)) {
        if (proj->in() != width) {
          down.problem = "the output projection " + kind_name(u) + " takes " + std::to_string(proj->in()) +
                         " features, not the heads' " + std::to_string(width);
          return down;
        }
        if (down.projection && down.projection->node != u) {
          down.problem = "the attention output feeds more than one projection";
          return down;
        }
        down.projection = proj;
        continue;
      }
      if (u->kind() == c10::prim::Return || u->kind() == kFlashAttention || u->kind() == kFusedMlp) {
        down.problem = "the attention output reaches " + kind_name(u) + " before any projection";
        return down;
      }
      down.region.push_back(u);
      for (Value* o : u->outputs()) frontier.push_back(o);
    }
  }
  if (!down.projection) down.problem = "no output projection after the attention";
  return down;
}

// The weight's out features as the parts they hold: one of q/k/v, or q, k
// and v fused (in that order).
std::optional<std::vector<int64_t>> column_parts(const Projection& p, const Heads& h) {
  const int64_t o = p.out();
  if (o == h.q * h.dim || o == h.kv * h.dim) return std::vector<int64_t>{o};
  if (o == (h.q + 2 * h.kv) * h.dim) return std::vector<int64_t>{h.q * h.dim, h.kv * h.dim, h.kv * h.dim};
  return std::nullopt;
}

void replace_input_constant(torch::jit::Graph& graph, Node* n, int input, const c10::IValue& value) {
  torch::jit::WithInsertPoint at(n);
  n->replaceInput(input, graph.insertConstant(value));
}

// Inserts mlopt::all_reduce on `out` (produced by `producer`) for every use
// after it.
Value* insert_all_reduce(torch::jit::Graph& graph, Value* out, Node* producer, int world) {
  torch::jit::WithInsertPoint at(producer->next());
  Value* reduced = graph.insert(kAllReduce, {out, int64_t{world}});
  reduced->setType(out->type());
  if (const auto callstack = producer->callstack()) reduced->node()->setCallStack(*callstack);
  out->replaceAllUsesAfterNodeWith(reduced->node(), reduced);
  return reduced;
}

int64_t elements(const RewriteContext& context, const Value* v) {
  const auto* s = context.shape_of(v);
  if (!s) return 0;
  int64_t n = 1;
  for (const int64_t d : s->shape) n *= d;
  return n;
}

std::string join_paths(const std::vector<Projection>& ps) {
  std::string s;
  for (const auto& p : ps) {
    std::string path = module_path_of(p.node);
    if (path.empty()) path = kind_name(p.node);
    if (s.find(path) != std::string::npos) continue;
    s += (s.empty() ? "" : ", ") + path;
  }
  return s;
}

// One attention call: checked completely before anything changes.
void shard_attention(torch::jit::Graph& graph, const RewriteContext& context, Node* call, int rank, int world,
                     ShardResult& result) {
  const std::string module = module_path_of(call);
  const auto miss = [&](const std::string& why) { result.missed.push_back({module, "mlopt::flash_attention", why}); };
  const auto* q = context.shape_of(call->input(0));
  const auto* k = context.shape_of(call->input(1));
  if (!q || !k || q->shape.size() != 4 || k->shape.size() != 4) return miss("the q/k shapes were not probed");
  const Heads h{q->shape[1], k->shape[1], q->shape[3]};
  if (!h.divides(world)) {
    return miss(std::to_string(h.q) + " query / " + std::to_string(h.kv) + " key-value heads do not split over " +
                std::to_string(world) + " ranks");
  }
  auto up = walk_up(call, {call->input(0), call->input(1), call->input(2)});
  if (!up.problem.empty()) return miss(up.problem);
  for (const auto& p : up.projections) {
    if (!column_parts(p, h)) {
      return miss("the projection " + join_paths({p}) + " has " + std::to_string(p.out()) +
                  " output features, which are not the heads' q, k, v or all three");
    }
  }
  auto down = walk_down(call, h.q * h.dim);
  if (!down.problem.empty()) return miss(down.problem);
  const Projection& out_proj = *down.projection;

  ShardedBlock block;
  block.module = module;
  block.kind = "attention";
  for (const auto& p : up.projections) {
    const auto parts = *column_parts(p, h);
    const int64_t dim = p.in_out ? 1 : 0;
    block.weight_bytes += bytes_of(p.weight) + (p.bias ? bytes_of(*p.bias) : 0);
    const auto w = keep_rank_parts(p.weight, dim, parts, rank, world);
    block.weight_bytes_per_rank += bytes_of(w);
    replace_input_constant(graph, p.node, p.weight_input, w);
    if (p.bias) {
      const auto b = keep_rank_parts(*p.bias, 0, parts, rank, world);
      block.weight_bytes_per_rank += bytes_of(b);
      replace_input_constant(graph, p.node, p.bias_input, b);
    }
  }
  std::vector<Node*> region = up.region;
  region.insert(region.end(), down.region.begin(), down.region.end());
  const int rescaled = rescale_shapes(graph, region, h, world);
  // The output projection: this rank's input features; the bias once.
  block.weight_bytes += bytes_of(out_proj.weight) + (out_proj.bias ? bytes_of(*out_proj.bias) : 0);
  const auto w = keep_rank_parts(out_proj.weight, out_proj.in_out ? 0 : 1, {out_proj.in()}, rank, world);
  block.weight_bytes_per_rank += bytes_of(w) + (out_proj.bias ? bytes_of(*out_proj.bias) : 0);
  replace_input_constant(graph, out_proj.node, out_proj.weight_input, w);
  if (out_proj.bias && rank != 0) {
    replace_input_constant(graph, out_proj.node, out_proj.bias_input, at::zeros_like(*out_proj.bias));
  }
  block.all_reduce_elements = elements(context, out_proj.node->output());
  insert_all_reduce(graph, out_proj.node->output(), out_proj.node, world);
  std::ostringstream d;
  d << h.q << " query";
  if (h.kv != h.q) d << " / " << h.kv << " key-value";
  d << " heads -> " << h.q / world;
  if (h.kv != h.q) d << " / " << h.kv / world;
  d << " per rank; column-parallel " << join_paths(up.projections) << ", row-parallel " << join_paths({out_proj})
    << "; " << rescaled << " head-count shape" << (rescaled == 1 ? "" : "s") << " rescaled";
  block.detail = d.str();
  result.sharded.push_back(block);
}

// One fused MLP call: w_up keeps this rank's features, w_down their inputs.
void shard_mlp(torch::jit::Graph& graph, const RewriteContext& context, Node* call, int rank, int world,
               bool sequence_parallel, ShardResult& result) {
  const std::string module = module_path_of(call);
  const auto miss = [&](const std::string& why) { result.missed.push_back({module, "mlopt::fused_mlp", why}); };
  const auto w_up = constant_tensor(call->input(1));
  const auto w_down = constant_tensor(call->input(3));
  const auto gated = constant_bool(call->input(6));
  const auto layout = constant_string(call->input(7));
  const auto gate_up = constant_string(call->input(9));
  if (!w_up || !w_down || !gated || !layout || !gate_up) return miss("the weights or options are not constants");
  const auto b_up = constant_tensor(call->input(2));
  if (!b_up && !is_none(call->input(2))) return miss("the up bias is not a constant");
  const bool in_out = *layout == "in_out";
  const int64_t up_features = w_up->size(in_out ? 1 : 0);
  const int64_t d_ff = *gated ? up_features / 2 : up_features;
  if (d_ff % world != 0) {
    return miss("d_ff " + std::to_string(d_ff) + " does not split over " + std::to_string(world) + " ranks");
  }
  // Features of w_up: d_ff, or gated: [gate; up] (two parts) or gate/up
  // pairs interleaved (one part of 2 d_ff whose 1/world slices keep pairs).
  std::vector<int64_t> parts = {up_features};
  if (*gated && *gate_up == "concatenated") parts = {d_ff, d_ff};
  ShardedBlock block;
  block.module = module;
  block.kind = "mlp";
  block.weight_bytes = bytes_of(*w_up) + bytes_of(*w_down) + (b_up ? bytes_of(*b_up) : 0);
  const auto up = keep_rank_parts(*w_up, in_out ? 1 : 0, parts, rank, world);
  const auto down = keep_rank_parts(*w_down, in_out ? 0 : 1, {d_ff}, rank, world);
  block.weight_bytes_per_rank = bytes_of(up) + bytes_of(down);
  replace_input_constant(graph, call, 1, up);
  replace_input_constant(graph, call, 3, down);
  if (b_up) {
    const auto b = keep_rank_parts(*b_up, 0, parts, rank, world);
    block.weight_bytes_per_rank += bytes_of(b);
    replace_input_constant(graph, call, 2, b);
  }
  if (const auto b_down = constant_tensor(call->input(4))) {
    block.weight_bytes += bytes_of(*b_down);
    block.weight_bytes_per_rank += bytes_of(*b_down);
  }
  // Summed over the ranks, the down bias and the residual must count once.
  // With sequence parallelism the residual is added after the collective,
  // where both are this rank's part of the sequence.
  Value* residual = is_none(call->input(8)) ? nullptr : call->input(8);
  if (rank != 0) replace_input_constant(graph, call, 4, c10::IValue());
  if (rank != 0 || (sequence_parallel && residual)) replace_input_constant(graph, call, 8, c10::IValue());
  block.all_reduce_elements = elements(context, call->output());
  Value* reduced = insert_all_reduce(graph, call->output(), call, world);
  if (sequence_parallel && residual) {
    torch::jit::WithInsertPoint at(reduced->node()->next());
    Value* sum = graph.insert(c10::aten::add, {reduced, residual});
    sum->setType(reduced->type());
    reduced->replaceAllUsesAfterNodeWith(sum->node(), sum);
  }
  std::ostringstream d;
  d << "d_ff " << d_ff << " -> " << d_ff / world << " per rank; up column-parallel, down row-parallel";
  block.detail = d.str();
  result.sharded.push_back(block);
}

}  // namespace

ShardResult shard_tensor_parallel(torch::jit::Graph& graph, const RewriteContext& context, int rank, int world,
                                  bool sequence_parallel) {
  ShardResult result;
  std::vector<Node*> calls;
  for (Node* n : graph.nodes()) {
    if (n->kind() == kFlashAttention || n->kind() == kFusedMlp) calls.push_back(n);
  }
  for (Node* call : calls) {
    if (call->kind() == kFlashAttention) {
      shard_attention(graph, context, call, rank, world, result);
    } else {
      shard_mlp(graph, context, call, rank, world, sequence_parallel, result);
    }
  }
  torch::jit::EliminateDeadCode(graph.block());
  return result;
}

}  // namespace mlopt::transforms
