// Attributing events to graph nodes and modules, and ops to categories.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <unordered_map>

#include "analysis.h"

namespace mlopt::profiler {
namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= path.size() && !path.empty()) {
    const auto dot = path.find('.', start);
    parts.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool contains_any(const std::string& text, std::initializer_list<const char*> words) {
  for (const char* w : words) {
    if (text.find(w) != std::string::npos) return true;
  }
  return false;
}

// The category a module's name implies, if any (HF and common naming).
const char* module_category(const std::string& name) {
  const std::string n = lower(name);
  if (contains_any(n, {"attn", "attention"})) return kAttention;
  if (contains_any(n, {"mlp", "ffn", "feed_forward", "feedforward"})) return kMlp;
  if (contains_any(n, {"norm", "ln_", "ln"}) && (n.rfind("ln", 0) == 0 || n.find("norm") != std::string::npos)) {
    return kNorm;
  }
  if (contains_any(n, {"wte", "wpe", "embed", "lm_head", "tok_embeddings", "output_layer"})) return kEmbedding;
  return nullptr;
}

bool is_elementwise(const std::string& op) {
  static const char* kOps[] = {"add", "sub", "mul", "div", "tanh", "pow", "exp", "sqrt", "rsqrt", "neg",
                               "gelu", "silu", "relu", "sigmoid", "where", "masked_fill", "clamp", "erf",
                               "to", "copy_", "contiguous", "cat", "mean", "sum", "max", "min"};
  const auto colon = op.rfind("::");
  std::string base = colon == std::string::npos ? op : op.substr(colon + 2);
  if (!base.empty() && base.back() == '_') base.pop_back();
  for (const char* k : kOps) {
    if (base == k) return true;
  }
  return false;
}

}  // namespace

std::string category_of(const std::string& op, const std::string& module_path) {
  // The op itself decides where it is unambiguous.
  if (op == "aten::embedding") return kEmbedding;
  if (op == "aten::layer_norm" || op == "aten::native_layer_norm" || op == "aten::rms_norm" ||
      op == "aten::group_norm" || op == "aten::batch_norm") {
    return kNorm;
  }
  if (op == "aten::scaled_dot_product_attention" || op == "mlopt::flash_attention") return kAttention;
  if (op.rfind("c10d::", 0) == 0 || op.find("all_reduce") != std::string::npos ||
      op.find("all_gather") != std::string::npos || op.find("reduce_scatter") != std::string::npos ||
      op.rfind("nccl", 0) == 0) {
    return kCommunication;
  }
  // Otherwise the innermost module with a telling name.
  const auto parts = split_path(module_path);
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (const char* c = module_category(*it)) return c;
  }
  return is_elementwise(op) ? kElementwise : kOther;
}

namespace {

// Ops that libtorch's graph executor may run in place of a frozen-graph node:
// its DecomposeOps pass turns addmm into mm + add (and norms into their
// arithmetic), and the new nodes carry no module call stack.
bool decomposes_into(const std::string& node_kind, const std::string& op) {
  static const std::map<std::string, std::set<std::string>> kProducts = {
      {"aten::addmm", {"aten::mm", "aten::add", "aten::add_", "aten::mul", "aten::mul_"}},
      {"aten::linear", {"aten::addmm", "aten::mm", "aten::matmul", "aten::add", "aten::add_", "aten::t"}},
      {"aten::layer_norm", {"aten::native_layer_norm", "aten::mul", "aten::add", "aten::sub", "aten::rsqrt",
                            "aten::var_mean", "aten::mean"}},
      {"aten::batch_norm", {"aten::native_batch_norm", "aten::mul", "aten::add", "aten::sub", "aten::rsqrt"}},
  };
  auto it = kProducts.find(node_kind);
  return it != kProducts.end() && it->second.count(op) > 0;
}

// A fusion group that libtorch's TensorExpr fuser made runs as one op named
// after its nodes ("fused_mul_pow_mul_add_mul_tanh_add_mul"): it is placed
// at its first node. Other ops keep their name.
std::string fused_first_kind(const std::string& op) {
  if (op.rfind("fused_", 0) != 0) return op;
  const auto end = op.find('_', 6);
  return "aten::" + op.substr(6, end == std::string::npos ? std::string::npos : end - 6);
}

// Top-level events of one iteration in time order: those the interpreter
// named a module for are anchors at their node; the others are placed at the
// first node after the previous event's node (up to the next anchor) whose
// kind is theirs or decomposes into theirs.
void infer_unattributed(std::vector<OpEvent*>& iteration, const ModelInfo& model) {
  int cursor = -1;
  for (std::size_t i = 0; i < iteration.size(); ++i) {
    OpEvent& e = *iteration[i];
    if (e.node_index >= 0) {
      cursor = e.node_index;
      continue;
    }
    if (!e.module_path.empty()) continue;
    int limit = static_cast<int>(model.nodes.size());
    for (std::size_t j = i + 1; j < iteration.size(); ++j) {
      if (iteration[j]->node_index >= 0) {
        limit = iteration[j]->node_index;
        break;
      }
    }
    const std::string kind = fused_first_kind(e.name);
    for (int n = std::max(cursor, 0); n < limit; ++n) {
      const auto& node = model.nodes[static_cast<std::size_t>(n)];
      if (node.depth != 0) continue;
      const bool same = node.kind == kind && n > cursor;
      if (same || decomposes_into(node.kind, kind)) {
        e.node_index = n;
        e.module_path = node.module_path;
        cursor = n;
        break;
      }
    }
  }
}

}  // namespace

double attribute_events(std::vector<OpEvent>& events, const ModelInfo& model) {
  // Nodes of each (module, kind) in graph order: the k-th such op executed in
  // an iteration is the k-th node.
  std::map<std::pair<std::string, std::string>, std::vector<int>> nodes;
  for (std::size_t i = 0; i < model.nodes.size(); ++i) {
    const auto& n = model.nodes[i];
    nodes[{n.module_path, n.kind}].push_back(static_cast<int>(i));
  }
  std::sort(events.begin(), events.end(), [](const OpEvent& a, const OpEvent& b) {
    return a.start_ns != b.start_ns ? a.start_ns < b.start_ns : a.depth < b.depth;
  });

  std::map<std::tuple<int, std::string, std::string>, std::size_t> seen;  // (iteration, module, kind) -> count
  std::map<int, std::vector<OpEvent*>> by_iteration;
  for (auto& e : events) {
    if (e.depth != 0) continue;
    by_iteration[e.iteration].push_back(&e);
    if (e.module_path.empty()) continue;  // placed by infer_unattributed
    auto found = nodes.find({e.module_path, e.name});
    auto& k = seen[{e.iteration, e.module_path, e.name}];
    if (found != nodes.end() && k < found->second.size()) e.node_index = found->second[k];
    ++k;
  }
  for (auto& [iteration, list] : by_iteration) infer_unattributed(list, model);

  // Nested ops belong to their root's module and node (events are sorted by
  // start, so a parent precedes its children).
  std::unordered_map<uint64_t, const OpEvent*> by_id;
  double total = 0, attributed = 0;
  for (auto& e : events) {
    by_id[e.id] = &e;
    if (e.depth == 0) {
      const double t = static_cast<double>(e.end_ns - e.start_ns);
      total += t;
      if (!e.module_path.empty()) attributed += t;
      continue;
    }
    auto parent = by_id.find(e.parent);
    if (parent != by_id.end()) {
      e.module_path = parent->second->module_path;
      e.node_index = parent->second->node_index;
    }
  }
  return total > 0 ? attributed / total : 1.0;
}

int default_module_depth(const ModelInfo& model) {
  // Breadth-first: the first module whose children are named 0, 1, ... is
  // the block list; group one level below its blocks.
  std::vector<const ModuleInfo*> level = {&model.root};
  int depth = 0;
  while (!level.empty() && depth < 16) {
    std::vector<const ModuleInfo*> next;
    for (const auto* m : level) {
      if (m->children.size() >= 2 && m->children.front().name == "0") return depth + 2;
      for (const auto& c : m->children) next.push_back(&c);
    }
    level = std::move(next);
    ++depth;
  }
  return 2;
}

}  // namespace mlopt::profiler
