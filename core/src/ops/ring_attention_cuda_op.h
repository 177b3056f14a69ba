#pragma once
// Internal: mlopt::ring_attention on CUDA tensors (CUDA libtorch builds).
#include <torch/script.h>

#include <optional>

namespace mlopt::ops {

// parallel::ring_attention_cuda on the current stream: fp16/bf16, head dims
// 64 and 128, q [batch, heads, local, head_dim], k/v [batch, kv_heads, ...].
at::Tensor ring_attention_cuda_op(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool is_causal,
                                  std::optional<double> scale, int64_t world_size);

}  // namespace mlopt::ops
