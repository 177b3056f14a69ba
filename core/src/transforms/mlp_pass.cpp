// The MLP pass: finds every activation (aten::gelu/relu/silu, and GELU
// written out as a formula), checks that a projection feeds it and another
// consumes it, and replaces the block by one mlopt::fused_mlp call.
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <cmath>
#include <numbers>
#include <sstream>
#include <variant>

#include "graph_info.h"
#include "graph_match.h"
#include "passes.h"

namespace mlopt::transforms {
namespace {

const c10::Symbol kFusedMlp = c10::Symbol::fromQualString("mlopt::fused_mlp");

// A linear layer as the graph computes it.
struct Projection {
  Value* x = nullptr;       // its input, [..., in]
  at::Tensor weight;        // kOutIn: [out, in]; kInOut: [in, out]
  std::optional<at::Tensor> bias;
  bool in_out = false;      // GPT-2 Conv1D
  Value* output = nullptr;  // [..., out]
  int64_t in_features() const { return weight.size(in_out ? 0 : 1); }
  int64_t out_features() const { return weight.size(in_out ? 1 : 0); }
  at::Tensor out_in() const { return in_out ? weight.t().contiguous() : weight; }
};

// linear(x, W, b) (nn.Linear), or HF's Conv1D:
// view(addmm(b, view(x, [-1, in]), W, 1, 1), size_out).
std::optional<Projection> projection_producing(Value* y) {
  if (const Node* linear = produced_by(y, c10::aten::linear)) {
    const auto w = constant_tensor(linear->input(1));
    if (!w || w->dim() != 2) return std::nullopt;
    Projection p{linear->input(0), *w, constant_tensor(linear->input(2)), false, y};
    if (!is_none(linear->input(2)) && !p.bias) return std::nullopt;
    return p;
  }
  const Node* outer = produced_by(y, c10::aten::view);
  const Node* addmm = outer ? produced_by(outer->input(0), c10::aten::addmm) : nullptr;
  if (!addmm) return std::nullopt;
  if (constant_number(addmm->input(3)) != std::optional<double>(1.0) ||
      constant_number(addmm->input(4)) != std::optional<double>(1.0)) {
    return std::nullopt;
  }
  const auto w = constant_tensor(addmm->input(2));
  const auto b = constant_tensor(addmm->input(0));
  const Node* inner = produced_by(addmm->input(1), c10::aten::view);
  if (!w || w->dim() != 2 || !b || !inner) return std::nullopt;
  return Projection{inner->input(0), *w, *b, true, y};
}

// The projection that consumes `h` (its only real use besides aten::size
// calls that compute a Conv1D's output shape).
std::optional<Projection> projection_consuming(Value* h) {
  for (const auto& use : h->uses()) {
    Node* user = use.user;
    if (is_metadata_use(user)) continue;
    if (user->kind() == c10::aten::linear && use.offset == 0) return projection_producing(user->output());
    if (user->kind() == c10::aten::view && user->output()->uses().size() == 1) {
      Node* addmm = user->output()->uses()[0].user;
      if (addmm->kind() != c10::aten::addmm || addmm->output()->uses().size() != 1) return std::nullopt;
      Node* outer = addmm->output()->uses()[0].user;
      if (outer->kind() != c10::aten::view) return std::nullopt;
      auto p = projection_producing(outer->output());
      if (p && p->x == h) return p;
    }
    return std::nullopt;
  }
  return std::nullopt;
}

struct Activation {
  std::string name;  // the op's activation argument
  Value* input = nullptr;
  Value* output = nullptr;
  std::vector<const Node*> nodes;  // what computes it (one op, or a formula's ops)
};

bool is_scalar_mul(const Node* n, const Value* of, double c) {
  if (!n || n->kind() != c10::aten::mul) return false;
  const auto s = scalar_operand(n);
  return s && s->other == of && close_to(s->constant, c, 1e-4);
}

// 0.5 * h * (1 + f(...)) with f = tanh or erf: the node computing the
// product, given the node computing (1 + f); the 0.5 * h node goes to `half`.
Node* half_h_times(Value* one_plus, const Value* h, const Node*& half) {
  if (one_plus->uses().size() != 1) return nullptr;
  Node* mul = one_plus->uses()[0].user;
  if (mul->kind() != c10::aten::mul) return nullptr;
  const Value* other = mul->input(0) == one_plus ? mul->input(1) : mul->input(0);
  if (!is_scalar_mul(other->node(), h, 0.5)) return nullptr;
  half = other->node();
  return mul;
}

// GELU written out. tanh form (GPT-2's gelu_new / NewGELUActivation):
// 0.5 h (1 + tanh(sqrt(2/pi) (h + 0.044715 h^3))); erf form:
// 0.5 h (1 + erf(h / sqrt 2)). Anchored at the tanh / erf.
std::optional<Activation> gelu_formula(Node* f) {
  const Node* scaled = f->input(0)->node();
  std::vector<const Node*> nodes = {scaled, f};
  Value* h = nullptr;
  if (f->kind() == c10::aten::tanh) {
    const auto s = scaled->kind() == c10::aten::mul ? scalar_operand(scaled) : std::nullopt;
    if (!s || !close_to(s->constant, std::sqrt(2.0 / std::numbers::pi), 1e-4)) return std::nullopt;
    const Node* sum = produced_by(s->other, c10::aten::add);
    if (!sum || constant_number(sum->input(2)) != std::optional<double>(1.0)) return std::nullopt;
    for (int i = 0; i < 2 && !h; ++i) {
      const Node* cube = sum->input(1 - i)->node();
      const auto c = cube->kind() == c10::aten::mul ? scalar_operand(cube) : std::nullopt;
      const Node* pow = c && close_to(c->constant, 0.044715, 1e-4) ? produced_by(c->other, c10::aten::pow) : nullptr;
      if (pow && pow->input(0) == sum->input(i) && constant_number(pow->input(1)) == std::optional<double>(3.0)) {
        h = sum->input(i);
        nodes.insert(nodes.end(), {sum, cube, pow});
      }
    }
  } else if (scaled->kind() == c10::aten::mul || scaled->kind() == c10::aten::div) {
    const auto s = scalar_operand(scaled);
    const bool divides = scaled->kind() == c10::aten::div;
    if (s && (!divides || s->other == scaled->input(0))) {
      const double factor = divides ? 1.0 / s->constant : s->constant;
      if (close_to(factor, 1.0 / std::numbers::sqrt2, 1e-4)) h = s->other;
    }
  }
  if (!h || f->output()->uses().size() != 1) return std::nullopt;
  Node* plus = f->output()->uses()[0].user;
  const auto one = plus->kind() == c10::aten::add ? scalar_operand(plus) : std::nullopt;
  if (!one || one->other != f->output() || one->constant != 1.0) return std::nullopt;
  const Node* half = nullptr;
  Node* product = half_h_times(plus->output(), h, half);
  if (!product) return std::nullopt;
  nodes.insert(nodes.end(), {plus, half, product});
  return Activation{f->kind() == c10::aten::tanh ? "gelu_tanh" : "gelu", h, product->output(), nodes};
}

std::optional<Activation> activation_at(Node* n) {
  const auto kind = n->kind();
  if (kind == c10::aten::relu) return Activation{"relu", n->input(0), n->output(), {n}};
  if (kind == c10::aten::silu) return Activation{"silu", n->input(0), n->output(), {n}};
  if (kind == c10::aten::gelu) {
    std::string approximate = "none";
    if (n->inputs().size() > 1) {
      const auto a = constant_string(n->input(1));
      if (!a) return std::nullopt;
      approximate = *a;
    }
    return Activation{approximate == "tanh" ? "gelu_tanh" : "gelu", n->input(0), n->output(), {n}};
  }
  if (kind == c10::aten::tanh || kind == c10::aten::erf) return gelu_formula(n);
  return std::nullopt;
}

struct Match {
  Activation activation;
  Projection up;                   // non-gated: the up projection; gated: the gate
  std::optional<Projection> gate_up;  // gated: the up projection beside the gate
  Projection down;
  Value* residual = nullptr;
  Value* output = nullptr;
};

using Verdict = std::variant<Match, std::string>;

Verdict match(const Activation& act, const PassContext& context) {
  Match m;
  m.activation = act;
  const auto up = projection_producing(act.input);
  if (!up) return std::string("the activation's input is not a Linear/Conv1D with constant weights");
  m.up = *up;
  for (const Node* user : data_users(up->output)) {
    if (std::find(act.nodes.begin(), act.nodes.end(), user) == act.nodes.end()) {
      return std::string("the projection before the activation is also used elsewhere");
    }
  }

  Value* h = act.output;
  auto users = data_users(h);
  if (users.size() != 1) return std::string("the activation's output is used more than once");
  if (users[0]->kind() == c10::aten::mul) {  // gated: act(gate(x)) * up(x)
    Node* product = users[0];
    Value* other = product->input(0) == h ? product->input(1) : product->input(0);
    const auto beside = projection_producing(other);
    if (!beside || beside->x != up->x) return std::string("a product with something other than an up projection of the same input");
    if (beside->in_out != up->in_out || beside->bias.has_value() != up->bias.has_value() ||
        !beside->weight.sizes().equals(up->weight.sizes())) {
      return std::string("gate and up projections with different layouts, shapes or biases");
    }
    if (data_users(other).size() != 1) return std::string("the up projection is also used elsewhere");
    m.gate_up = *beside;
    h = product->output();
  }
  const auto down = projection_consuming(h);
  if (!down) return std::string("the activation's output does not go to a Linear/Conv1D with constant weights");
  m.down = *down;
  if (down->in_features() != up->out_features() || down->out_features() != up->in_features()) {
    return std::string("the projections' sizes do not chain (d_model -> d_ff -> d_model)");
  }
  m.output = down->output;

  // A residual add right after the down projection goes into its epilogue.
  const auto after = data_users(m.output);
  if (after.size() == 1 && after[0]->kind() == c10::aten::add && constant_number(after[0]->input(2)) == std::optional<double>(1.0)) {
    Node* add = after[0];
    Value* r = add->input(0) == m.output ? add->input(1) : add->input(0);
    const auto* rs = shape_of(context, r);
    const auto* ys = shape_of(context, m.output);
    if (rs && ys && rs->shape == ys->shape && rs->dtype == ys->dtype && r != m.output) {
      m.residual = r;
      m.output = add->output();
    }
  }

  if (context.device.is_cuda()) {
    const auto* x = shape_of(context, up->x);
    const auto dtype = x ? x->dtype : up->weight.scalar_type();
    if (dtype != at::kHalf && dtype != at::kBFloat16) {
      return std::string("the CUDA MLP kernel takes fp16 or bf16, and the input is ") + c10::toString(dtype) +
             " (load the model with --dtype fp16)";
    }
    if (up->in_features() % 8 != 0 || up->out_features() % 8 != 0) {
      return "d_model " + std::to_string(up->in_features()) + " / d_ff " + std::to_string(up->out_features()) +
             ": the CUDA MLP kernel needs multiples of 8";
    }
  }
  return m;
}

std::string describe(const Match& m) {
  std::ostringstream s;
  s << (m.gate_up ? (m.activation.name == "silu" ? "SwiGLU" : "gated " + m.activation.name) : m.activation.name)
    << ", " << m.up.in_features() << " -> " << m.up.out_features() << " -> " << m.down.out_features() << ", "
    << (m.up.in_out ? "Conv1D [in, out]" : "Linear [out, in]");
  if (m.up.bias) s << ", biases";
  if (m.residual) s << ", residual fused";
  return s.str();
}

Value* insert_tensor(torch::jit::Graph& graph, const std::optional<at::Tensor>& t) {
  return t ? graph.insertConstant(*t) : graph.insertConstant(c10::IValue());
}

void rewrite(torch::jit::Graph& graph, const Match& m, Node* anchor) {
  // One layout for both projections: the up projection's (a Conv1D down
  // projection beside a Linear up projection is transposed once, here).
  const bool in_out = m.up.in_out;
  const auto layout_of = [&](const Projection& p) { return p.in_out == in_out ? p.weight : p.weight.t().contiguous(); };
  at::Tensor w_up = layout_of(m.up);
  std::optional<at::Tensor> b_up = m.up.bias;
  if (m.gate_up) {
    // Gate and up interleaved feature by feature (gate j = feature 2j, up j =
    // 2j + 1): the Hopper kernel's epilogue then finds both in one thread's
    // adjacent accumulator columns and never writes either projection.
    const int64_t feature_dim = in_out ? 1 : 0;
    auto packed_shape = w_up.sizes().vec();
    packed_shape[feature_dim] *= 2;
    w_up = at::stack({w_up, layout_of(*m.gate_up)}, feature_dim + 1).reshape(packed_shape).contiguous();
    if (b_up) b_up = at::stack({*b_up, *m.gate_up->bias}, 1).reshape({-1}).contiguous();
  }
  torch::jit::WithInsertPoint at(m.output->node());
  auto* w_up_value = graph.insertConstant(w_up);
  auto* b_up_value = insert_tensor(graph, b_up);
  auto* w_down_value = graph.insertConstant(layout_of(m.down));
  auto* b_down_value = insert_tensor(graph, m.down.bias);
  c10::IValue residual;
  std::vector<torch::jit::NamedValue> args = {m.up.x, w_up_value, b_up_value, w_down_value, b_down_value,
                                               m.activation.name, m.gate_up.has_value(),
                                               std::string(in_out ? "in_out" : "out_in")};
  if (m.residual) {
    args.emplace_back(m.residual);
  } else {
    args.emplace_back(residual);
  }
  args.emplace_back(std::string("interleaved"));
  auto* call = graph.insert(kFusedMlp, args);
  replace_value(m.output, call, anchor);
}

}  // namespace

PassResult rewrite_mlp(torch::jit::Graph& graph, const PassContext& context) {
  PassResult result;
  std::vector<std::pair<Node*, Activation>> anchors;
  for (Node* n : graph.nodes()) {
    if (auto act = activation_at(n)) anchors.emplace_back(n, *act);
  }
  for (auto& [anchor, act] : anchors) {
    const std::string module = module_path_of(anchor);
    auto verdict = match(act, context);
    if (auto* why = std::get_if<std::string>(&verdict)) {
      result.missed.push_back({module, kind_name(anchor), *why});
      continue;
    }
    const auto& m = std::get<Match>(verdict);
    rewrite(graph, m, anchor);
    result.matched.push_back({module, describe(m)});
  }
  torch::jit::EliminateDeadCode(graph.block());
  return result;
}

}  // namespace mlopt::transforms
