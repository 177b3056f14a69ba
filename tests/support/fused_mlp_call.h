#pragma once
// Calls mlopt::fused_mlp through the dispatcher, boxed, as a transformed
// graph would (tests of the CPU and CUDA kernels share it).
#include <torch/script.h>

#include <optional>
#include <string>

namespace mlopt::test {

struct MlpCall {
  at::Tensor x, w_up;
  std::optional<at::Tensor> b_up;
  at::Tensor w_down;
  std::optional<at::Tensor> b_down;
  std::string activation = "gelu_tanh";
  bool gated = false;
  std::string layout = "out_in";
  std::optional<at::Tensor> residual;
  std::string gate_up = "concatenated";
};

inline at::Tensor fused_mlp(const MlpCall& c) {
  static const auto op = c10::Dispatcher::singleton().findSchemaOrThrow("mlopt::fused_mlp", "");
  const auto optional = [](const std::optional<at::Tensor>& t) { return t ? c10::IValue(*t) : c10::IValue(); };
  torch::jit::Stack stack{c.x,          c.w_up, optional(c.b_up),     c.w_down, optional(c.b_down),
                          c.activation, c.gated, c.layout, optional(c.residual), c.gate_up};
  op.callBoxed(&stack);
  return stack.at(0).toTensor();
}

// The same call with every tensor moved to `device`.
inline MlpCall on(MlpCall c, const at::Device& device) {
  const auto move = [&](std::optional<at::Tensor>& t) {
    if (t) t = t->to(device);
  };
  c.x = c.x.to(device);
  c.w_up = c.w_up.to(device);
  c.w_down = c.w_down.to(device);
  move(c.b_up);
  move(c.b_down);
  move(c.residual);
  return c;
}

}  // namespace mlopt::test
