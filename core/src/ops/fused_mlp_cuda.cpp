// The CUDA kernel of mlopt::fused_mlp: mlopt's fused MLP block on the
// current stream, its workspace from PyTorch's caching allocator (CUDA
// libtorch builds only).
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/script.h>
#include <torch/version.h>

#include <climits>
#include <cstdint>
#include <stdexcept>

#include "fused_mlp_check.h"
#include "mlopt/kernels/mlp.h"

namespace mlopt::ops {
namespace {

// The kernels read every tensor in 16-byte pieces from its first element:
// dense, and a start that a fresh allocation has (a view into another
// tensor may start anywhere).
at::Tensor dense_aligned(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  if (reinterpret_cast<std::uintptr_t>(c.data_ptr()) % 16 != 0) c = c.clone();
  return c;
}

const void* pointer_or_null(const OptionalTensor& t, at::Tensor& keep) {
  if (!t.has_value()) return nullptr;
  keep = dense_aligned(*t);
  return keep.data_ptr();
}

kernels::Activation kernel_activation(MlpActivationName a) {
  switch (a) {
    case MlpActivationName::kNone: return kernels::Activation::kNone;
    case MlpActivationName::kRelu: return kernels::Activation::kRelu;
    case MlpActivationName::kGelu: return kernels::Activation::kGeluErf;
    case MlpActivationName::kGeluTanh: return kernels::Activation::kGeluTanh;
    case MlpActivationName::kSilu: return kernels::Activation::kSilu;
  }
  return kernels::Activation::kNone;
}

at::Tensor fused_mlp_cuda(const at::Tensor& x_in, const at::Tensor& w_up_in, const OptionalTensor& b_up_in,
                          const at::Tensor& w_down_in, const OptionalTensor& b_down_in, c10::string_view activation,
                          bool gated, c10::string_view layout, const OptionalTensor& residual_in,
                          c10::string_view gate_up) {
  const MlpShape s = check_mlp_args(x_in, w_up_in, b_up_in ? &*b_up_in : nullptr, w_down_in,
                                    b_down_in ? &*b_down_in : nullptr, std::string(activation), gated,
                                    std::string(layout), residual_in ? &*residual_in : nullptr, std::string(gate_up));
  TORCH_CHECK(x_in.scalar_type() == at::kHalf || x_in.scalar_type() == at::kBFloat16,
              "mlopt::fused_mlp on CUDA takes fp16 or bf16 tensors, got ", x_in.scalar_type(),
              ": convert the model (--dtype fp16 or bf16)");
  TORCH_CHECK(s.tokens <= INT_MAX && s.d_model <= INT_MAX && s.d_ff <= INT_MAX,
              "mlopt::fused_mlp on CUDA: sizes must fit in int32 (tokens ", s.tokens, ", d_model ", s.d_model,
              ", d_ff ", s.d_ff, ")");
  auto out = at::empty(x_in.sizes(), x_in.options());
  if (s.tokens == 0) return out;

  const at::Tensor x = dense_aligned(x_in);
  const at::Tensor w_up = dense_aligned(w_up_in);
  const at::Tensor w_down = dense_aligned(w_down_in);
  at::Tensor b_up, b_down, residual;  // keep the dense copies alive for the call

  kernels::MlpParams p;
  p.x = x.data_ptr();
  p.w_up = w_up.data_ptr();
  p.b_up = pointer_or_null(b_up_in, b_up);
  p.w_down = w_down.data_ptr();
  p.b_down = pointer_or_null(b_down_in, b_down);
  p.residual = pointer_or_null(residual_in, residual);
  p.out = out.data_ptr();
  p.tokens = static_cast<int>(s.tokens);
  p.d_model = static_cast<int>(s.d_model);
  p.d_ff = static_cast<int>(s.d_ff);
  p.activation = kernel_activation(s.activation);
  p.gated = s.gated;
  p.gate_up = s.interleaved ? kernels::GateUpPacking::kInterleaved : kernels::GateUpPacking::kConcatenated;
  p.layout = s.in_out ? kernels::WeightLayout::kInOut : kernels::WeightLayout::kOutIn;
  p.dtype = x.scalar_type() == at::kHalf ? kernels::MlpDType::kFloat16 : kernels::MlpDType::kBFloat16;

  const c10::cuda::CUDAGuard guard(x.device());
  try {
    // The caching allocator hands the block back for later work on this
    // stream only, so freeing it when this function returns is safe.
    const auto workspace = at::empty({static_cast<int64_t>(kernels::mlp_workspace_bytes(p))},
                                     x.options().dtype(at::kByte));
    kernels::mlp_forward(p, c10::cuda::getCurrentCUDAStream(x.device().index()).stream(), workspace.data_ptr(),
                         static_cast<std::size_t>(workspace.numel()));
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, "mlopt::fused_mlp: ", e.what());
  }
  return out;
}

}  // namespace

bool fused_mlp_cuda_registered() { return true; }

}  // namespace mlopt::ops

TORCH_LIBRARY_IMPL(mlopt, CUDA, m) { m.impl("fused_mlp", &mlopt::ops::fused_mlp_cuda); }
