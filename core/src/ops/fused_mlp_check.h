#pragma once
// Argument checks shared by the CPU and CUDA kernels of mlopt::fused_mlp.
#include <torch/script.h>
#include <torch/version.h>

#include <cstdint>
#include <string>
#include "torch_optional.h"

namespace mlopt::ops {

// Tensor? in the op's schema, as this libtorch spells it.
enum class MlpActivationName { kNone, kRelu, kGelu, kGeluTanh, kSilu };

struct MlpShape {
  int64_t tokens;   // x.numel() / d_model: every leading dim of x
  int64_t d_model;
  int64_t d_ff;     // width of h (gated: of each of gate and up)
  MlpActivationName activation;
  bool gated;
  bool in_out;       // weights in GPT-2 Conv1D's [in, out] layout (else nn.Linear's [out, in])
  bool interleaved;  // gated: gate and up alternate feature by feature (else [gate; up])
};

// TORCH_CHECKs that name the op and the offending argument.
MlpShape check_mlp_args(const at::Tensor& x, const at::Tensor& w_up, const at::Tensor* b_up, const at::Tensor& w_down,
                        const at::Tensor* b_down, const std::string& activation, bool gated, const std::string& layout,
                        const at::Tensor* residual, const std::string& gate_up);

// Return true; referenced from ops_registered() so that static linking keeps
// the translation units that register the op (fused_mlp_op.cpp) and its
// CUDA kernel (fused_mlp_cuda.cpp, CUDA libtorch builds only).
bool fused_mlp_registered();
bool fused_mlp_cuda_registered();

}  // namespace mlopt::ops
