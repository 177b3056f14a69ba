#include "mlopt/profiler/cost_model.h"

#include <algorithm>
#include <functional>
#include <unordered_map>
#include <unordered_set>

namespace mlopt::profiler {
namespace {

using Shape = std::vector<int64_t>;
using Inputs = std::vector<TensorArg>;

// FLOPs per output element of elementwise ops. These are estimates of the
// arithmetic an ideal kernel does, not instruction counts: a transcendental
// (exp, tanh, erf, rsqrt, ...) runs on the special-function unit or as a
// short polynomial, counted as 4; composite activations add their parts.
constexpr double kSimpleFlops = 1;         // add, mul, compare, select, ...
constexpr double kTranscendentalFlops = 4;  // exp, log, tanh, sigmoid, erf, sqrt, rsqrt, ...
constexpr double kSiluFlops = kTranscendentalFlops + 1;      // x * sigmoid(x)
constexpr double kGeluFlops = 8;  // tanh form: x^3, 3 mul/add, tanh, add, 2 mul (erf form is similar)
constexpr double kMishFlops = 2 * kTranscendentalFlops + 1;  // x * tanh(softplus(x))
// Per input element of fused row-wise ops.
constexpr double kSoftmaxFlops = 5;    // max, subtract, exp, sum, divide
constexpr double kLayerNormFlops = 8;  // mean, subtract, square, sum, rsqrt-scale, weight, bias
constexpr double kRmsNormFlops = 4;    // square, sum, rsqrt-scale, weight

double numel(const Shape& shape) {
  double n = 1;
  for (const int64_t d : shape) n *= static_cast<double>(d);
  return n;
}

double bytes_of(const Shape& shape, DType dtype) { return numel(shape) * static_cast<double>(element_size(dtype)); }
double bytes_of(const TensorArg& t) { return t.is_tensor ? bytes_of(t.shape, t.dtype) : 0; }

double input_bytes(const Inputs& inputs) {
  double total = 0;
  for (const auto& t : inputs) total += bytes_of(t);
  return total;
}

const TensorArg* tensor_at(const Inputs& inputs, std::size_t i) {
  return i < inputs.size() && inputs[i].is_tensor ? &inputs[i] : nullptr;
}

// A bool argument (is_causal, keepdim) that is present and true.
bool flag_at(const Inputs& inputs, std::size_t i) {
  return i < inputs.size() && !inputs[i].is_tensor && inputs[i].scalar != 0;
}

OpCost known(double flops, double bytes) { return {flops, bytes, true}; }
OpCost zero_cost() { return known(0, 0); }
OpCost unknown() { return {}; }

// NumPy broadcasting of any number of shapes; nullopt when they do not fit.
std::optional<Shape> broadcast(const std::vector<const Shape*>& shapes) {
  std::size_t rank = 0;
  for (const auto* s : shapes) rank = std::max(rank, s->size());
  Shape out(rank, 1);
  for (const auto* s : shapes) {
    const std::size_t offset = rank - s->size();
    for (std::size_t i = 0; i < s->size(); ++i) {
      const int64_t d = (*s)[i];
      int64_t& o = out[offset + i];
      if (d == o || d == 1) continue;
      if (o != 1) return std::nullopt;
      o = d;
    }
  }
  return out;
}

// Roughly PyTorch's type promotion: floating beats integer beats bool, and
// within a kind the wider type wins. Zero-dim tensors (wrapped scalars) only
// decide when nothing else does, as in PyTorch.
int promotion_rank(DType d) {
  switch (d) {
    case DType::Bool: return 0;
    case DType::U8: return 1;
    case DType::I8: return 2;
    case DType::I16: return 3;
    case DType::I32: return 4;
    case DType::I64: return 5;
    case DType::BF16: return 6;
    case DType::F16: return 7;
    case DType::F32: return 8;
    case DType::F64: return 9;
  }
  return 0;
}

DType promoted_dtype(const Inputs& inputs) {
  std::optional<DType> best, best_scalar;
  for (const auto& t : inputs) {
    if (!t.is_tensor) continue;
    auto& slot = t.shape.empty() ? best_scalar : best;
    if (!slot || promotion_rank(t.dtype) > promotion_rank(*slot)) slot = t.dtype;
  }
  return best ? *best : best_scalar.value_or(DType::F32);
}

// ---- matrix products -------------------------------------------------------

struct Product {
  Shape out;
  double flops = 0;
};

// torch.matmul's rules: 1-D operands gain (and then lose) a dimension, batch
// dimensions broadcast. nullopt when the inner dimensions disagree.
std::optional<Product> matmul_product(const Shape& a, const Shape& b) {
  if (a.empty() || b.empty()) return std::nullopt;
  const bool a_vector = a.size() == 1, b_vector = b.size() == 1;
  const int64_t m = a_vector ? 1 : a[a.size() - 2];
  const int64_t k = a.back();
  const int64_t k_b = b_vector ? b[0] : b[b.size() - 2];
  const int64_t n = b_vector ? 1 : b.back();
  if (k != k_b) return std::nullopt;
  const Shape batch_a(a.begin(), a.end() - (a_vector ? 1 : 2));
  const Shape batch_b(b.begin(), b.end() - (b_vector ? 1 : 2));
  auto batch = broadcast({&batch_a, &batch_b});
  if (!batch) return std::nullopt;
  Product p{*batch, 2 * numel(*batch) * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k)};
  if (!a_vector) p.out.push_back(m);
  if (!b_vector) p.out.push_back(n);
  return p;
}

// The operand ranks an op accepts (0: any, as matmul), so that arguments
// that do not fit the op's schema are refused rather than counted.
struct Ranks {
  std::size_t a = 0, b = 0;
};

bool ranks_fit(const TensorArg& a, const TensorArg& b, Ranks ranks) {
  return (ranks.a == 0 || a.shape.size() == ranks.a) && (ranks.b == 0 || b.shape.size() == ranks.b);
}

// matmul, mm, bmm, mv, dot: out = a @ b.
OpCost product_cost(const Inputs& inputs, Ranks ranks) {
  const auto* a = tensor_at(inputs, 0);
  const auto* b = tensor_at(inputs, 1);
  if (!a || !b || !ranks_fit(*a, *b, ranks)) return unknown();
  const auto p = matmul_product(a->shape, b->shape);
  if (!p) return unknown();
  return known(p->flops, bytes_of(*a) + bytes_of(*b) + bytes_of(p->out, promoted_dtype(inputs)));
}

// addmm, baddbmm, addmv: bias (input 0) + a @ b; the bias add is one FLOP per
// output element (alpha/beta scaling is folded into the GEMM's epilogue).
OpCost biased_product_cost(const Inputs& inputs, Ranks ranks) {
  const auto* bias = tensor_at(inputs, 0);
  const auto* a = tensor_at(inputs, 1);
  const auto* b = tensor_at(inputs, 2);
  if (!bias || !a || !b || !ranks_fit(*a, *b, ranks)) return unknown();
  const auto p = matmul_product(a->shape, b->shape);
  if (!p) return unknown();
  const double out_elements = numel(p->out);
  return known(p->flops + out_elements,
               bytes_of(*bias) + bytes_of(*a) + bytes_of(*b) + bytes_of(p->out, promoted_dtype(inputs)));
}

// linear(x[..., K], w[N, K], b[N]?) = x @ w^T + b.
OpCost linear_cost(const Inputs& inputs) {
  const auto* x = tensor_at(inputs, 0);
  const auto* w = tensor_at(inputs, 1);
  const auto* bias = tensor_at(inputs, 2);
  if (!x || !w || x->shape.empty() || w->shape.empty() || w->shape.size() > 2) return unknown();
  const int64_t k = x->shape.back();
  if (w->shape.back() != k) return unknown();
  Shape out(x->shape.begin(), x->shape.end() - 1);
  const double m = numel(out);
  const double n = w->shape.size() == 2 ? static_cast<double>(w->shape[0]) : 1;
  if (w->shape.size() == 2) out.push_back(w->shape[0]);
  double flops = 2 * m * n * static_cast<double>(k);
  if (bias) flops += m * n;
  return known(flops, input_bytes(inputs) + bytes_of(out, x->dtype));
}

// ---- attention -------------------------------------------------------------

// q [..., H, Sq, D], k/v [..., Hkv, Sk, D] (grouped-query attention when
// Hkv < H): QK^T and PV are 2*Sq*Sk*D each per head; a causal mask skips
// half. Softmax and scaling are small next to them and not counted.
OpCost attention_cost(const Inputs& inputs, std::optional<std::size_t> causal_index) {
  const auto* q = tensor_at(inputs, 0);
  const auto* k = tensor_at(inputs, 1);
  const auto* v = tensor_at(inputs, 2);
  if (!q || !k || !v) return unknown();
  const std::size_t rank = q->shape.size();
  if (rank < 2 || k->shape.size() != rank || v->shape.size() != rank) return unknown();
  const int64_t d = q->shape.back();
  const int64_t sk = k->shape[rank - 2];
  if (k->shape.back() != d || v->shape[rank - 2] != sk) return unknown();
  const double heads = numel(Shape(q->shape.begin(), q->shape.end() - 2));  // batch * query heads
  const double sq = static_cast<double>(q->shape[rank - 2]);
  const double dv = static_cast<double>(v->shape.back());
  double flops = 2 * heads * sq * static_cast<double>(sk) * (static_cast<double>(d) + dv);
  if (causal_index && flag_at(inputs, *causal_index)) flops /= 2;
  Shape out(q->shape.begin(), q->shape.end() - 1);
  out.push_back(v->shape.back());
  return known(flops, input_bytes(inputs) + bytes_of(out, q->dtype));
}

// Where each attention op takes is_causal (positional), from its schema.
// mlopt::flash_attention(q, k, v, is_causal, scale?) is mlopt's own op.
const std::unordered_map<std::string, std::size_t>& attention_ops() {
  static const std::unordered_map<std::string, std::size_t> ops = {
      {"scaled_dot_product_attention", 5},
      {"_scaled_dot_product_attention_math", 5},
      {"_scaled_dot_product_flash_attention", 4},
      {"_scaled_dot_product_flash_attention_for_cpu", 4},
      {"_scaled_dot_product_efficient_attention", 6},
      {"_scaled_dot_product_cudnn_attention", 6},
  };
  return ops;
}

// mlopt::fused_mlp(x [..., d_model], w_up, b_up?, w_down, b_down?, activation,
// gated, layout, residual?, gate_up): two GEMMs, tokens x d_model x n_up and
// tokens x d_ff x d_model (the weights' element counts, whatever their
// layout); every input read once and the [..., d_model] output written. The
// intermediate h stays out of the count, as a fused kernel could keep it.
OpCost fused_mlp_cost(const Inputs& inputs) {
  const auto* x = tensor_at(inputs, 0);
  const auto* w_up = tensor_at(inputs, 1);
  const auto* w_down = tensor_at(inputs, 3);
  if (!x || !w_up || !w_down || x->shape.empty() || x->shape.back() <= 0 || w_up->shape.size() != 2 ||
      w_down->shape.size() != 2) {
    return unknown();
  }
  const double tokens = numel(x->shape) / static_cast<double>(x->shape.back());
  const double flops = 2.0 * tokens * (numel(w_up->shape) + numel(w_down->shape));
  return known(flops, input_bytes(inputs) + bytes_of(*x));
}

// ---- row-wise, gather, elementwise, reductions, copies ---------------------

// softmax, layer_norm, rms_norm: the output is the first input's shape;
// weights and biases are read once.
OpCost rowwise_cost(const Inputs& inputs, double flops_per_element) {
  const auto* x = tensor_at(inputs, 0);
  if (!x) return unknown();
  return known(flops_per_element * numel(x->shape), input_bytes(inputs) + bytes_of(*x));
}

// embedding(weight [V, D], indices [...]) -> [..., D]: reads the indices and
// only the rows they pick, writes the same amount.
OpCost embedding_cost(const Inputs& inputs) {
  const auto* weight = tensor_at(inputs, 0);
  const auto* indices = tensor_at(inputs, 1);
  if (!weight || !indices || weight->shape.size() != 2) return unknown();
  const double gathered = numel(indices->shape) * static_cast<double>(weight->shape[1]) *
                          static_cast<double>(element_size(weight->dtype));
  return known(0, bytes_of(*indices) + 2 * gathered);
}

// Every tensor input read once, the broadcast output written once.
OpCost elementwise_cost(const Inputs& inputs, double flops_per_element, std::optional<DType> out_dtype = {}) {
  std::vector<const Shape*> shapes;
  for (const auto& t : inputs) {
    if (t.is_tensor) shapes.push_back(&t.shape);
  }
  if (shapes.empty()) return zero_cost();  // scalar arithmetic in the interpreter: no kernel
  const auto out = broadcast(shapes);
  if (!out) return unknown();
  const double elements = numel(*out);
  return known(flops_per_element * elements,
               input_bytes(inputs) + bytes_of(*out, out_dtype.value_or(promoted_dtype(inputs))));
}

// pow(x, 2) is x*x and pow(x, 3) (GELU's tanh form) x*x*x: small integer
// exponents are repeated multiplies; any other exponent goes through exp/log.
OpCost pow_cost(const Inputs& inputs) {
  const double e = inputs.size() > 1 && !inputs[1].is_tensor ? inputs[1].scalar : 0;
  const bool small_integer = e >= 2 && e <= 4 && e == static_cast<double>(static_cast<int>(e));
  return elementwise_cost(inputs, small_integer ? (e - 1) * kSimpleFlops : kTranscendentalFlops);
}

// The output shape of a reduction over `dim` (an int or an int list, input 1)
// with keepdim (input 2). An int list argument arrives as a non-tensor whose
// `shape` holds the dims; an absent or out-of-range dim reduces everything.
Shape reduced_shape(const Shape& in, const Inputs& inputs) {
  if (inputs.size() < 2 || inputs[1].is_tensor) return {};
  const auto& arg = inputs[1];
  const Shape dims = arg.shape.empty() ? Shape{static_cast<int64_t>(arg.scalar)} : arg.shape;
  const bool keepdim = flag_at(inputs, 2);
  const auto rank = static_cast<int64_t>(in.size());
  std::vector<bool> reduce(in.size(), false);
  for (int64_t d : dims) {
    if (d < 0) d += rank;
    if (d < 0 || d >= rank) return {};
    reduce[static_cast<std::size_t>(d)] = true;
  }
  Shape out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (!reduce[i]) out.push_back(in[i]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

OpCost reduction_cost(const Inputs& inputs, double flops_per_element) {
  const auto* x = tensor_at(inputs, 0);
  if (!x) return unknown();
  const Shape out = reduced_shape(x->shape, inputs);
  return known(flops_per_element * numel(x->shape), bytes_of(*x) + bytes_of(out, x->dtype));
}

// to, contiguous, clone: read once, write once (an upper bound: a `to` or
// `contiguous` that has nothing to do returns its input without a kernel).
OpCost copy_cost(const Inputs& inputs) {
  const auto* x = tensor_at(inputs, 0);
  if (!x) return unknown();
  return known(0, 2 * bytes_of(*x));
}

// copy_(self, src): reads src, writes self.
OpCost copy_into_cost(const Inputs& inputs) {
  const auto* self = tensor_at(inputs, 0);
  const auto* src = tensor_at(inputs, 1);
  if (!self || !src) return unknown();
  return known(0, bytes_of(*self) + bytes_of(*src));
}

// cat/stack: every tensor read once and written once into the result. The
// tensors count only when the caller passes them as separate inputs; a list
// it did not describe leaves the cost unknown rather than zero.
OpCost concat_cost(const Inputs& inputs) {
  const double bytes = input_bytes(inputs);
  if (bytes <= 0) return unknown();
  return known(0, 2 * bytes);
}

// fill_, zero_, zeros_like, ...: writes the first input's shape.
OpCost fill_cost(const Inputs& inputs) {
  const auto* x = tensor_at(inputs, 0);
  if (!x) return unknown();
  return known(0, bytes_of(*x));
}

// ---- the op table ----------------------------------------------------------

// Ops that launch no kernel: views, metadata, list and scalar plumbing,
// dropout in eval mode, uninitialised allocation.
const std::unordered_set<std::string>& free_ops() {
  static const std::unordered_set<std::string> ops = {
      "view", "reshape", "_reshape_alias", "_unsafe_view", "unsafe_view", "view_as", "reshape_as",
      "permute", "transpose", "t", "numpy_T", "mT", "swapaxes", "movedim", "slice", "select", "narrow",
      "unsqueeze", "squeeze", "expand", "expand_as", "flatten", "unflatten", "split", "split_with_sizes",
      "chunk", "unbind", "tensor_split", "as_strided", "alias", "diagonal", "detach", "lift_fresh",
      "resolve_conj", "resolve_neg", "size", "sizes", "dim", "numel", "stride", "is_contiguous",
      "is_floating_point", "__getitem__", "len", "list", "Int", "Float", "Bool", "ScalarImplicit",
      "dropout", "feature_dropout", "alpha_dropout", "empty", "empty_like", "empty_strided",
      "requires_grad_", "__is__", "__isnot__", "format", "warn",
  };
  return ops;
}

const std::unordered_map<std::string, double>& elementwise_ops() {
  static const std::unordered_map<std::string, double> ops = {
      {"add", kSimpleFlops}, {"sub", kSimpleFlops}, {"rsub", kSimpleFlops}, {"mul", kSimpleFlops},
      {"div", kSimpleFlops}, {"true_divide", kSimpleFlops}, {"floor_divide", kSimpleFlops},
      {"neg", kSimpleFlops}, {"abs", kSimpleFlops}, {"relu", kSimpleFlops}, {"relu6", kSimpleFlops},
      {"leaky_relu", kSimpleFlops}, {"hardtanh", kSimpleFlops}, {"threshold", kSimpleFlops},
      {"clamp", kSimpleFlops}, {"clamp_min", kSimpleFlops}, {"clamp_max", kSimpleFlops}, {"clip", kSimpleFlops},
      {"maximum", kSimpleFlops}, {"minimum", kSimpleFlops}, {"fmax", kSimpleFlops}, {"fmin", kSimpleFlops},
      {"where", kSimpleFlops}, {"masked_fill", kSimpleFlops}, {"reciprocal", kSimpleFlops},
      {"square", kSimpleFlops}, {"sign", kSimpleFlops}, {"floor", kSimpleFlops}, {"ceil", kSimpleFlops},
      {"round", kSimpleFlops}, {"trunc", kSimpleFlops}, {"fmod", kSimpleFlops}, {"remainder", kSimpleFlops},
      {"tril", kSimpleFlops}, {"triu", kSimpleFlops},
      {"bitwise_and", kSimpleFlops}, {"bitwise_or", kSimpleFlops}, {"bitwise_xor", kSimpleFlops},
      {"bitwise_not", kSimpleFlops}, {"__and__", kSimpleFlops}, {"__or__", kSimpleFlops},
      {"__xor__", kSimpleFlops}, {"__iand__", kSimpleFlops}, {"__ior__", kSimpleFlops},
      {"logical_and", kSimpleFlops}, {"logical_or", kSimpleFlops}, {"logical_xor", kSimpleFlops},
      {"logical_not", kSimpleFlops},
      {"addcmul", 2 * kSimpleFlops}, {"addcdiv", 2 * kSimpleFlops}, {"lerp", 3 * kSimpleFlops},
      {"hardsigmoid", 3 * kSimpleFlops}, {"hardswish", 4 * kSimpleFlops},
      {"exp", kTranscendentalFlops}, {"exp2", kTranscendentalFlops}, {"expm1", kTranscendentalFlops},
      {"log", kTranscendentalFlops}, {"log2", kTranscendentalFlops}, {"log10", kTranscendentalFlops},
      {"log1p", kTranscendentalFlops}, {"sqrt", kTranscendentalFlops}, {"rsqrt", kTranscendentalFlops},
      {"sin", kTranscendentalFlops}, {"cos", kTranscendentalFlops}, {"tanh", kTranscendentalFlops},
      {"sigmoid", kTranscendentalFlops}, {"erf", kTranscendentalFlops}, {"erfc", kTranscendentalFlops},
      {"softplus", kTranscendentalFlops + kSimpleFlops}, {"elu", kTranscendentalFlops + kSimpleFlops},
      {"silu", kSiluFlops}, {"gelu", kGeluFlops}, {"mish", kMishFlops},
  };
  return ops;
}

const std::unordered_set<std::string>& comparison_ops() {
  static const std::unordered_set<std::string> ops = {
      "eq", "ne", "lt", "le", "gt", "ge", "isnan", "isinf", "isfinite", "logical_and", "logical_or",
      "logical_xor", "logical_not",
  };
  return ops;
}

// FLOPs per input element.
const std::unordered_map<std::string, double>& reduction_ops() {
  static const std::unordered_map<std::string, double> ops = {
      {"sum", 1}, {"mean", 1}, {"amax", 1}, {"amin", 1}, {"max", 1}, {"min", 1}, {"argmax", 1},
      {"argmin", 1}, {"prod", 1}, {"any", 1}, {"all", 1}, {"count_nonzero", 1},
      {"norm", 2}, {"var", 3}, {"std", 3}, {"logsumexp", kTranscendentalFlops + 2},
  };
  return ops;
}

using CostFn = std::function<OpCost(const Inputs&)>;

const std::unordered_map<std::string, CostFn>& special_ops() {
  static const std::unordered_map<std::string, CostFn> ops = {
      {"matmul", [](const Inputs& in) { return product_cost(in, {}); }},
      {"mm", [](const Inputs& in) { return product_cost(in, {2, 2}); }},
      {"bmm", [](const Inputs& in) { return product_cost(in, {3, 3}); }},
      {"mv", [](const Inputs& in) { return product_cost(in, {2, 1}); }},
      {"dot", [](const Inputs& in) { return product_cost(in, {1, 1}); }},
      {"addmm", [](const Inputs& in) { return biased_product_cost(in, {2, 2}); }},
      {"baddbmm", [](const Inputs& in) { return biased_product_cost(in, {3, 3}); }},
      {"addmv", [](const Inputs& in) { return biased_product_cost(in, {2, 1}); }},
      {"linear", linear_cost},
      {"softmax", [](const Inputs& in) { return rowwise_cost(in, kSoftmaxFlops); }},
      {"_softmax", [](const Inputs& in) { return rowwise_cost(in, kSoftmaxFlops); }},
      {"log_softmax", [](const Inputs& in) { return rowwise_cost(in, kSoftmaxFlops); }},
      {"_log_softmax", [](const Inputs& in) { return rowwise_cost(in, kSoftmaxFlops); }},
      {"layer_norm", [](const Inputs& in) { return rowwise_cost(in, kLayerNormFlops); }},
      {"native_layer_norm", [](const Inputs& in) { return rowwise_cost(in, kLayerNormFlops); }},
      {"group_norm", [](const Inputs& in) { return rowwise_cost(in, kLayerNormFlops); }},
      {"rms_norm", [](const Inputs& in) { return rowwise_cost(in, kRmsNormFlops); }},
      {"embedding", embedding_cost}, {"pow", pow_cost}, {"float_power", pow_cost},
      {"to", copy_cost}, {"_to_copy", copy_cost}, {"contiguous", copy_cost}, {"clone", copy_cost},
      {"type_as", copy_cost}, {"float", copy_cost}, {"half", copy_cost}, {"bfloat16", copy_cost},
      {"double", copy_cost}, {"copy", copy_into_cost},
      {"cat", concat_cost}, {"concat", concat_cost}, {"concatenate", concat_cost}, {"stack", concat_cost},
      {"fill", fill_cost}, {"zero", fill_cost}, {"zeros_like", fill_cost}, {"ones_like", fill_cost},
      {"full_like", fill_cost}, {"rand_like", fill_cost}, {"randn_like", fill_cost},
  };
  return ops;
}

struct OpName {
  std::string ns;    // "aten", "prim", "mlopt", ... ("" when the name has none)
  std::string base;  // without namespace, overload and in-place underscore
};

// "aten::add_.Tensor" -> {"aten", "add"}: an in-place op costs what its
// out-of-place twin does. Dunder names (__and__) keep their underscores.
OpName split_name(const std::string& op_name) {
  OpName name;
  std::string rest = op_name;
  if (const auto sep = rest.rfind("::"); sep != std::string::npos) {
    name.ns = rest.substr(0, sep);
    rest = rest.substr(sep + 2);
  }
  if (const auto dot = rest.find('.'); dot != std::string::npos) rest.resize(dot);
  const bool dunder = rest.size() > 4 && rest.starts_with("__") && rest.ends_with("__");
  if (!dunder && rest.size() > 1 && rest.back() == '_') rest.pop_back();
  name.base = rest;
  return name;
}

OpCost table_cost(const std::string& name, const Inputs& inputs) {
  if (free_ops().contains(name)) return zero_cost();
  if (const auto it = attention_ops().find(name); it != attention_ops().end()) {
    return attention_cost(inputs, it->second);
  }
  if (const auto it = special_ops().find(name); it != special_ops().end()) return it->second(inputs);
  // max(a, b) and min(a, b) with two tensors are elementwise, not reductions.
  if ((name == "max" || name == "min") && tensor_at(inputs, 1)) return elementwise_cost(inputs, kSimpleFlops);
  if (const auto it = reduction_ops().find(name); it != reduction_ops().end()) {
    return reduction_cost(inputs, it->second);
  }
  const bool comparison = comparison_ops().contains(name);
  if (const auto it = elementwise_ops().find(name); it != elementwise_ops().end()) {
    return elementwise_cost(inputs, it->second, comparison ? std::optional(DType::Bool) : std::nullopt);
  }
  if (comparison) return elementwise_cost(inputs, kSimpleFlops, DType::Bool);
  return unknown();
}

}  // namespace

OpCost op_cost(const std::string& op_name, const std::vector<TensorArg>& inputs) {
  const OpName name = split_name(op_name);
  // prim:: ops are the interpreter's own (constants, lists, attributes).
  if (name.ns == "prim") return zero_cost();
  if (name.ns == "mlopt" && name.base == "flash_attention") return attention_cost(inputs, 3);
  if (name.ns == "mlopt" && name.base == "fused_mlp") return fused_mlp_cost(inputs);
  if (!name.ns.empty() && name.ns != "aten") return unknown();
  return table_cost(name.base, inputs);
}

std::string to_string(Bound bound) {
  switch (bound) {
    case Bound::Compute: return "compute";
    case Bound::Memory: return "memory";
    case Bound::Latency: return "latency";
    case Bound::Unknown: return "unknown";
  }
  return "unknown";
}

Roofline classify(const OpCost& cost, double seconds, const DeviceCeilings& ceilings) {
  Roofline r;
  if (!cost.known) return r;
  const double peak_flops = std::max(0.0, ceilings.matmul_tflops) * 1e12;
  const double peak_bytes = std::max(0.0, ceilings.copy_gbps) * 1e9;
  const bool timed = seconds > 0;
  if (timed) {
    r.achieved_tflops = cost.flops / seconds / 1e12;
    r.achieved_gbps = cost.bytes / seconds / 1e9;
  }
  const double compute_seconds = peak_flops > 0 ? cost.flops / peak_flops : 0;
  const double memory_seconds = peak_bytes > 0 ? cost.bytes / peak_bytes : 0;
  r.ideal_seconds = std::max(compute_seconds, memory_seconds);

  // An op that does no work but takes time is overhead by definition.
  if (cost.flops <= 0 && cost.bytes <= 0) {
    r.bound = timed ? Bound::Latency : Bound::Unknown;
    return r;
  }
  // Without both ceilings there is no ridge point to compare against.
  if (peak_flops <= 0 || peak_bytes <= 0) return r;

  const double compute_share = timed ? cost.flops / seconds / peak_flops : 0;
  const double memory_share = timed ? cost.bytes / seconds / peak_bytes : 0;
  const bool compute_bound = cost.bytes <= 0 || cost.flops / cost.bytes >= peak_flops / peak_bytes;
  r.bound = compute_bound ? Bound::Compute : Bound::Memory;
  r.share_of_ceiling = compute_bound ? compute_share : memory_share;

  // A few launch overheads long and far from its ceiling: the time is the
  // launch and dispatch, not the work.
  const double short_op = ceilings.launch_overhead_us > 0 ? 3 * ceilings.launch_overhead_us * 1e-6 : 5e-6;
  if (timed && seconds < short_op && r.share_of_ceiling < 0.1) {
    r.bound = Bound::Latency;
    r.share_of_ceiling = std::max(compute_share, memory_share);
  }
  return r;
}

}  // namespace mlopt::profiler
