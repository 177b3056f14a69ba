#pragma once
// Argument checks shared by the CPU and CUDA kernels of mlopt::flash_attention.
#include <torch/script.h>

#include <cmath>
#include <optional>

namespace mlopt::ops {

struct AttentionShape {
  int64_t batch, heads, kv_heads, q_len, kv_len, head_dim;
  double scale;
};

// TORCH_CHECKs that name the op and the offending argument.
AttentionShape check_attention_args(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                    std::optional<double> scale);

}  // namespace mlopt::ops
