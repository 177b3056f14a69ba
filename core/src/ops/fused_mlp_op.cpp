// mlopt::fused_mlp: the schema, the argument checks and the CPU kernel (the
// reference: fp32 ATen math, h rounded to the input dtype as the CUDA kernel
// stores it).
//
// Gated MLPs take the gate and up weights packed into one w_up (2 d_ff
// output features; see ops.h). A graph rewrite for Llama inserts
// aten::cat([gate_proj.weight, up_proj.weight]) in front of the call: on a
// frozen graph the weights are constants, so constant propagation folds the
// concatenation away and no call pays for it, while the kernel reads one
// weight matrix and the op keeps one schema for every MLP.
#include <torch/script.h>
#include <torch/version.h>

#include <utility>
#include <vector>

#include "fused_mlp_check.h"
#include "mlopt/core/ops.h"

namespace mlopt::ops {
namespace {

const at::Tensor* pointer_to(const OptionalTensor& t) { return t.has_value() ? &*t : nullptr; }

at::Tensor activate(const at::Tensor& t, MlpActivationName a) {
  switch (a) {
    case MlpActivationName::kNone: return t;
    case MlpActivationName::kRelu: return at::relu(t);
    case MlpActivationName::kGelu: return at::gelu(t);
    case MlpActivationName::kGeluTanh: return at::gelu(t, "tanh");
    case MlpActivationName::kSilu: return at::silu(t);
  }
  return t;
}

at::Tensor fused_mlp_cpu(const at::Tensor& x, const at::Tensor& w_up, const OptionalTensor& b_up,
                         const at::Tensor& w_down, const OptionalTensor& b_down, c10::string_view activation,
                         bool gated, c10::string_view layout, const OptionalTensor& residual,
                         c10::string_view gate_up) {
  const MlpShape s = check_mlp_args(x, w_up, pointer_to(b_up), w_down, pointer_to(b_down), std::string(activation),
                                    gated, std::string(layout), pointer_to(residual), std::string(gate_up));
  const auto math = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  // Weights as nn.Linear's [out, in].
  const auto up_w = (s.in_out ? w_up.t() : w_up).to(math);
  const auto down_w = (s.in_out ? w_down.t() : w_down).to(math);
  auto pre = at::matmul(x.reshape({s.tokens, s.d_model}).to(math), up_w.t());
  if (b_up) pre = pre + b_up->to(math);
  at::Tensor h;
  if (gated) {
    at::Tensor gate, up;
    if (s.interleaved) {
      const auto pairs = pre.view({s.tokens, s.d_ff, 2});
      gate = pairs.select(2, 0);
      up = pairs.select(2, 1);
    } else {
      gate = pre.narrow(1, 0, s.d_ff);
      up = pre.narrow(1, s.d_ff, s.d_ff);
    }
    h = activate(gate, s.activation) * up;
  } else {
    h = activate(pre, s.activation);
  }
  h = h.to(x.scalar_type()).to(math);  // the intermediate is stored in the input dtype
  auto out = at::matmul(h, down_w.t());
  if (b_down) out = out + b_down->to(math);
  if (residual) out = out + residual->reshape({s.tokens, s.d_model}).to(math);
  return out.to(x.scalar_type()).reshape(x.sizes());
}

MlpActivationName parse_activation(const std::string& name) {
  const std::pair<const char*, MlpActivationName> names[] = {{"none", MlpActivationName::kNone},
                                                              {"relu", MlpActivationName::kRelu},
                                                              {"gelu", MlpActivationName::kGelu},
                                                              {"gelu_tanh", MlpActivationName::kGeluTanh},
                                                              {"silu", MlpActivationName::kSilu}};
  for (const auto& [text, value] : names) {
    if (name == text) return value;
  }
  TORCH_CHECK(false, "mlopt::fused_mlp: unknown activation '", name,
              "' (expected none, relu, gelu, gelu_tanh or silu; SwiGLU is silu with gated=True)");
  return MlpActivationName::kNone;  // not reached: TORCH_CHECK threw
}

}  // namespace

MlpShape check_mlp_args(const at::Tensor& x, const at::Tensor& w_up, const at::Tensor* b_up, const at::Tensor& w_down,
                        const at::Tensor* b_down, const std::string& activation, bool gated, const std::string& layout,
                        const at::Tensor* residual, const std::string& gate_up) {
  MlpShape s{};
  s.activation = parse_activation(activation);
  s.gated = gated;
  TORCH_CHECK(layout == "out_in" || layout == "in_out", "mlopt::fused_mlp: unknown layout '", layout,
              "' (expected out_in for nn.Linear weights [out, in] or in_out for GPT-2 Conv1D weights [in, out])");
  s.in_out = layout == "in_out";
  TORCH_CHECK(gate_up == "concatenated" || gate_up == "interleaved", "mlopt::fused_mlp: unknown gate_up packing '",
              gate_up, "' (expected concatenated or interleaved)");
  s.interleaved = gate_up == "interleaved";

  TORCH_CHECK(x.dim() >= 1 && x.size(-1) > 0, "mlopt::fused_mlp: x must be [..., d_model] with d_model > 0, got ",
              x.sizes());
  s.d_model = x.size(-1);
  s.tokens = x.numel() / s.d_model;
  const auto w_shape = [&](int64_t out, int64_t in) {
    return s.in_out ? "[" + std::to_string(in) + ", " + std::to_string(out) + "] ([in, out])"
                    : "[" + std::to_string(out) + ", " + std::to_string(in) + "] ([out, in])";
  };
  TORCH_CHECK(w_up.dim() == 2, "mlopt::fused_mlp: w_up must be a matrix, got ", w_up.sizes());
  const int64_t up_in = s.in_out ? w_up.size(0) : w_up.size(1);
  const int64_t n_up = s.in_out ? w_up.size(1) : w_up.size(0);
  TORCH_CHECK(up_in == s.d_model, "mlopt::fused_mlp: w_up ", w_up.sizes(), " does not take x's d_model ",
              s.d_model, " as its input features (layout ", layout, ")");
  TORCH_CHECK(n_up > 0, "mlopt::fused_mlp: w_up has no output features");
  TORCH_CHECK(!gated || n_up % 2 == 0, "mlopt::fused_mlp: a gated w_up holds gate and up weights (2 d_ff outputs), ",
              "got ", n_up, " outputs");
  s.d_ff = gated ? n_up / 2 : n_up;
  const std::vector<int64_t> down_shape =
      s.in_out ? std::vector<int64_t>{s.d_ff, s.d_model} : std::vector<int64_t>{s.d_model, s.d_ff};
  TORCH_CHECK(w_down.sizes() == at::IntArrayRef(down_shape), "mlopt::fused_mlp: w_down must be ",
              w_shape(s.d_model, s.d_ff), " for d_ff ", s.d_ff, ", got ", w_down.sizes());
  if (b_up) {
    TORCH_CHECK(b_up->dim() == 1 && b_up->size(0) == n_up, "mlopt::fused_mlp: b_up must be [", n_up, "], got ",
                b_up->sizes());
  }
  if (b_down) {
    TORCH_CHECK(b_down->dim() == 1 && b_down->size(0) == s.d_model, "mlopt::fused_mlp: b_down must be [", s.d_model,
                "], got ", b_down->sizes());
  }
  if (residual) {
    TORCH_CHECK(residual->sizes() == x.sizes(), "mlopt::fused_mlp: residual ", residual->sizes(),
                " must have x's shape ", x.sizes());
  }
  std::vector<const at::Tensor*> all{&x, &w_up, &w_down};
  for (const at::Tensor* t : {b_up, b_down, residual}) {
    if (t) all.push_back(t);
  }
  for (const at::Tensor* t : all) {
    TORCH_CHECK(t->scalar_type() == x.scalar_type(), "mlopt::fused_mlp: all tensors must have x's dtype ",
                x.scalar_type(), ", got ", t->scalar_type());
    TORCH_CHECK(t->device() == x.device(), "mlopt::fused_mlp: all tensors must be on x's device ", x.device(),
                ", got ", t->device());
  }
  TORCH_CHECK(x.is_floating_point(), "mlopt::fused_mlp: inputs must be floating point, got ", x.scalar_type());
  return s;
}

bool fused_mlp_registered() {
#if MLOPT_TORCH_CUDA
  return fused_mlp_cuda_registered();
#else
  return true;
#endif
}

}  // namespace mlopt::ops

TORCH_LIBRARY_FRAGMENT(mlopt, m) {
  m.def(
      "fused_mlp(Tensor x, Tensor w_up, Tensor? b_up, Tensor w_down, Tensor? b_down, str activation='gelu_tanh', "
      "bool gated=False, str layout='out_in', Tensor? residual=None, str gate_up='concatenated') -> Tensor");
}

TORCH_LIBRARY_IMPL(mlopt, CPU, m) { m.impl("fused_mlp", &mlopt::ops::fused_mlp_cpu); }
