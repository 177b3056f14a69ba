#include "attention_impls.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>

#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <tuple>

#include "mlopt/kernels/attention.h"
#include "mlopt/kernels/device_query.h"

namespace mlopt::bench {
namespace {

kernels::TensorStrides strides_of(const at::Tensor& t) { return {t.stride(0), t.stride(1), t.stride(2), t.stride(3)}; }

kernels::AttentionDType dtype_of(const at::Tensor& t) {
  if (t.scalar_type() == at::kHalf) return kernels::AttentionDType::kFloat16;
  if (t.scalar_type() == at::kBFloat16) return kernels::AttentionDType::kBFloat16;
  throw std::invalid_argument("mlopt attention takes fp16 or bf16 tensors");
}

kernels::AttentionImpl mlopt_impl(const std::string& name) {
  if (name == "mlopt-mma") return kernels::AttentionImpl::kPrefillMma;
  if (name == "mlopt-sm90") return kernels::AttentionImpl::kPrefillSm90;
  if (name == "mlopt-wmma") return kernels::AttentionImpl::kPrefillWmma;
  if (name == "mlopt-auto") return kernels::AttentionImpl::kAuto;
  throw std::invalid_argument("unknown attention implementation '" + name + "'");
}

// Params for q/k/v/out as laid out in the tensors (any strides with a
// contiguous head_dim, which is what the kernels require).
kernels::AttentionParams params_for(const AttentionInputs& in, const at::Tensor& out, kernels::AttentionImpl impl) {
  kernels::AttentionParams p;
  p.q = in.q.data_ptr();
  p.k = in.k.data_ptr();
  p.v = in.v.data_ptr();
  p.out = out.data_ptr();
  p.q_strides = strides_of(in.q);
  p.k_strides = strides_of(in.k);
  p.v_strides = strides_of(in.v);
  p.out_strides = strides_of(out);
  p.batch = static_cast<int>(in.q.size(0));
  p.q_heads = static_cast<int>(in.q.size(1));
  p.kv_heads = static_cast<int>(in.k.size(1));
  p.q_len = static_cast<int>(in.q.size(2));
  p.kv_len = static_cast<int>(in.k.size(2));
  p.head_dim = static_cast<int>(in.q.size(3));
  p.softmax_scale = static_cast<float>(in.scale);
  p.causal = in.causal;
  p.dtype = dtype_of(in.q);
  p.impl = impl;
  return p;
}

// State an mlopt runner keeps across calls: the output and workspace are
// allocated once (through libtorch's allocator, on the inputs' device).
struct MloptRunner {
  AttentionInputs inputs;
  at::Tensor out, workspace;
  kernels::AttentionParams params;
};

std::function<at::Tensor()> make_mlopt_runner(kernels::AttentionImpl impl, const AttentionInputs& inputs) {
  auto state = std::make_shared<MloptRunner>();
  state->inputs = inputs;
  state->out = at::empty(inputs.q.sizes(), inputs.q.options()).fill_(std::numeric_limits<double>::quiet_NaN());
  state->params = params_for(inputs, state->out, impl);
  const std::size_t bytes = kernels::attention_workspace_bytes(state->params);  // validates: throws for bad params
  if (bytes > 0) state->workspace = at::empty({static_cast<int64_t>(bytes)}, inputs.q.options().dtype(at::kByte));
  return [state]() {
    const c10::cuda::CUDAGuard guard(state->inputs.q.device());
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(state->inputs.q.device().index()).stream();
    kernels::attention_forward(state->params, stream, state->workspace.defined() ? state->workspace.data_ptr() : nullptr,
                               state->workspace.defined() ? static_cast<std::size_t>(state->workspace.numel()) : 0);
    return state->out;
  };
}

// libtorch's backends, called as SDPA would call them for these inputs
// (no dropout, no mask, no log-sum-exp output where that is optional).
at::Tensor torch_flash(const AttentionInputs& in) {
  return std::get<0>(at::_scaled_dot_product_flash_attention(in.q, in.k, in.v, /*dropout_p=*/0.0, in.causal,
                                                             /*return_debug_mask=*/false, in.scale));
}

at::Tensor torch_cudnn(const AttentionInputs& in) {
  return std::get<0>(at::_scaled_dot_product_cudnn_attention(in.q, in.k, in.v, /*attn_bias=*/std::nullopt,
                                                             /*compute_log_sumexp=*/false, /*dropout_p=*/0.0,
                                                             in.causal, /*return_debug_mask=*/false, in.scale));
}

at::Tensor torch_efficient(const AttentionInputs& in) {
  return std::get<0>(at::_scaled_dot_product_efficient_attention(in.q, in.k, in.v, /*attn_bias=*/std::nullopt,
                                                                 /*compute_log_sumexp=*/false, /*dropout_p=*/0.0,
                                                                 in.causal, in.scale));
}

}  // namespace

bool is_mlopt_impl(const std::string& name) { return name.rfind("mlopt-", 0) == 0; }

bool mlopt_sm90_available() {
#ifdef MLOPT_KERNELS_HAVE_SM90
  const auto props = kernels::device_properties(c10::cuda::current_device());
  return props.compute_major == 9 && props.compute_minor == 0;
#else
  return false;
#endif
}

std::function<at::Tensor()> make_attention_runner(const std::string& name, const AttentionInputs& inputs) {
  if (is_mlopt_impl(name)) return make_mlopt_runner(mlopt_impl(name), inputs);
  at::Tensor (*fn)(const AttentionInputs&) = nullptr;
  if (name == "torch-flash") fn = torch_flash;
  else if (name == "torch-cudnn") fn = torch_cudnn;
  else if (name == "torch-efficient") fn = torch_efficient;
  else throw std::invalid_argument("unknown attention implementation '" + name + "'");
  return [fn, inputs]() { return fn(inputs); };
}

std::size_t attention_runner_workspace_bytes(const std::string& name, const AttentionInputs& inputs) {
  if (!is_mlopt_impl(name)) return 0;
  // Parameters only: the pointers are never dereferenced here.
  return kernels::attention_workspace_bytes(params_for(inputs, inputs.q, mlopt_impl(name)));
}

}  // namespace mlopt::bench
