#include "graph_match.h"

#include <torch/csrc/jit/ir/constants.h>

#include <cmath>

namespace mlopt::transforms {

Node* produced_by(const Value* v, c10::Symbol kind) {
  auto* node = const_cast<Value*>(v)->node();
  return node->kind() == kind ? node : nullptr;
}

namespace {
std::optional<c10::IValue> constant(const Value* v) {
  return torch::jit::toIValue(const_cast<Value*>(v));
}
}  // namespace

std::optional<double> constant_number(const Value* v) {
  const auto c = constant(v);
  if (!c) return std::nullopt;
  if (c->isDouble()) return c->toDouble();
  if (c->isInt()) return static_cast<double>(c->toInt());
  if (c->isTensor()) {
    const auto& t = c->toTensor();
    if (t.dim() == 0 && (t.is_floating_point() || t.scalar_type() == at::kLong)) return t.item<double>();
  }
  return std::nullopt;
}

std::optional<int64_t> constant_int(const Value* v) {
  const auto c = constant(v);
  if (c && c->isInt()) return c->toInt();
  return std::nullopt;
}

std::optional<bool> constant_bool(const Value* v) {
  const auto c = constant(v);
  if (c && c->isBool()) return c->toBool();
  return std::nullopt;
}

std::optional<std::string> constant_string(const Value* v) {
  const auto c = constant(v);
  if (c && c->isString()) return c->toStringRef();
  return std::nullopt;
}

std::optional<at::Tensor> constant_tensor(const Value* v) {
  const auto c = constant(v);
  if (c && c->isTensor()) return c->toTensor();
  return std::nullopt;
}

std::optional<std::vector<int64_t>> constant_int_list(const Value* v) {
  const auto c = constant(v);
  if (c && c->isIntList()) return c->toIntVector();
  return std::nullopt;
}

bool is_none(const Value* v) { return v->type()->kind() == c10::TypeKind::NoneType; }

bool same_int(const Value* a, const Value* b) {
  if (a == b) return true;
  const auto x = constant_int(a), y = constant_int(b);
  return x && y && *x == *y;
}

bool close_to(double a, double b, double rel) { return std::abs(a - b) <= rel * std::abs(b); }

bool is_masking_value(double v) { return v <= -1e4; }

std::optional<ScalarOperand> scalar_operand(const Node* node) {
  if (node->inputs().size() < 2) return std::nullopt;
  // aten::add/sub carry an alpha: only alpha == 1 is a plain sum.
  if (node->inputs().size() == 3) {
    const auto alpha = constant_number(node->input(2));
    if (!alpha || *alpha != 1.0) return std::nullopt;
  }
  const auto a = constant_number(node->input(0)), b = constant_number(node->input(1));
  if (a.has_value() == b.has_value()) return std::nullopt;
  if (a) return ScalarOperand{node->input(1), *a};
  return ScalarOperand{node->input(0), *b};
}

bool is_metadata_use(const Node* user) {
  const auto kind = user->kind();
  return kind == c10::aten::size || kind == c10::prim::dtype || kind == c10::prim::device;
}

bool used_only_by(const Value* v, const Node* user) {
  for (const auto& use : v->uses()) {
    if (use.user != user && !is_metadata_use(use.user)) return false;
  }
  return true;
}

std::vector<Node*> data_users(const Value* v) {
  std::vector<Node*> users;
  for (const auto& use : v->uses()) {
    if (!is_metadata_use(use.user)) users.push_back(use.user);
  }
  return users;
}

std::string kind_name(const Node* node) { return node->kind().toQualString(); }

}  // namespace mlopt::transforms
