#pragma once
// Small, checked questions about TorchScript IR values, shared by the
// attention and MLP passes: "is this value the constant -inf?", "which node
// of kind K produced it?".
#include <torch/csrc/jit/ir/ir.h>

#include <optional>
#include <string>

namespace mlopt::transforms {

using torch::jit::Node;
using torch::jit::Value;

// The node that produced `v` when it has kind `kind`, else null.
Node* produced_by(const Value* v, c10::Symbol kind);

// A Python number constant (int or float) or a 0-dim / one-element tensor constant.
std::optional<double> constant_number(const Value* v);
std::optional<int64_t> constant_int(const Value* v);
std::optional<bool> constant_bool(const Value* v);
std::optional<std::string> constant_string(const Value* v);
std::optional<at::Tensor> constant_tensor(const Value* v);
std::optional<std::vector<int64_t>> constant_int_list(const Value* v);
bool is_none(const Value* v);

// `a` and `b` are the same number: the same Value, or equal int constants.
bool same_int(const Value* a, const Value* b);

// |a - b| <= rel * |b|.
bool close_to(double a, double b, double rel = 1e-5);

// The value a masked score is set to is "minus infinity" for softmax: -inf,
// or a finite number low enough that exp() of it vanishes next to any real
// score (HF uses torch.finfo(dtype).min; older code -1e4 or -1e9).
bool is_masking_value(double v);

// For aten::mul / aten::add with one constant scalar operand: the other
// operand (null when neither or both are constant) and the constant.
struct ScalarOperand {
  Value* other = nullptr;
  double constant = 0;
};
std::optional<ScalarOperand> scalar_operand(const Node* node);

// A use that reads only a tensor's metadata (aten::size, prim::dtype,
// prim::device): shape arithmetic around a block, which dies with it.
bool is_metadata_use(const Node* user);

// Every use of `v` that reads its data is by `user`.
bool used_only_by(const Value* v, const Node* user);

// The nodes that read `v`'s data (metadata uses left out).
std::vector<Node*> data_users(const Value* v);

// "aten::softmax" for messages.
std::string kind_name(const Node* node);

}  // namespace mlopt::transforms
