// The CUDA kernel of mlopt::flash_attention: mlopt's tiled forward on the
// current stream (CUDA libtorch builds only).
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/script.h>
#include <torch/version.h>

#include <stdexcept>

#include "flash_attention_check.h"
#include "mlopt/kernels/attention.h"
#include "torch_optional.h"

namespace mlopt::ops {
namespace {

kernels::TensorStrides strides_of(const at::Tensor& t) {
  return {t.stride(0), t.stride(1), t.stride(2), t.stride(3)};
}

at::Tensor flash_attention_cuda(const at::Tensor& q_in, const at::Tensor& k_in, const at::Tensor& v_in,
                                bool is_causal, OptionalScale scale) {
  const auto s = check_attention_args(q_in, k_in, v_in, scale ? std::optional<double>(*scale) : std::nullopt);
  TORCH_CHECK(q_in.scalar_type() == at::kHalf || q_in.scalar_type() == at::kBFloat16,
              "mlopt::flash_attention on CUDA takes fp16 or bf16 inputs, got ", q_in.scalar_type(),
              ": convert the model (--dtype fp16 or bf16)");
  TORCH_CHECK(kernels::attention_head_dim_supported(static_cast<int>(s.head_dim)),
              "mlopt::flash_attention on CUDA supports head dims 64 and 128, got ", s.head_dim);
  // Any layout works as long as each row of head_dim is contiguous.
  const auto q = q_in.stride(3) == 1 ? q_in : q_in.contiguous();
  const auto k = k_in.stride(3) == 1 ? k_in : k_in.contiguous();
  const auto v = v_in.stride(3) == 1 ? v_in : v_in.contiguous();
  // [batch, heads, q_len, head_dim] as a view of a [batch, q_len, heads,
  // head_dim] buffer (as PyTorch's own flash attention returns it): the
  // transpose back to tokens that every model does next is then free, where
  // a contiguous result costs a copy of the whole output (0.22 ms of GPT-2
  // small's 5.8 ms at 8 x 1024 tokens).
  auto out = at::empty({s.batch, s.q_len, s.heads, s.head_dim}, q.options()).permute({0, 2, 1, 3});

  kernels::AttentionParams p;
  p.q = q.data_ptr();
  p.k = k.data_ptr();
  p.v = v.data_ptr();
  p.out = out.data_ptr();
  p.q_strides = strides_of(q);
  p.k_strides = strides_of(k);
  p.v_strides = strides_of(v);
  p.out_strides = strides_of(out);
  p.batch = static_cast<int>(s.batch);
  p.q_heads = static_cast<int>(s.heads);
  p.kv_heads = static_cast<int>(s.kv_heads);
  p.q_len = static_cast<int>(s.q_len);
  p.kv_len = static_cast<int>(s.kv_len);
  p.head_dim = static_cast<int>(s.head_dim);
  p.softmax_scale = static_cast<float>(s.scale);
  p.causal = is_causal;
  p.dtype = q.scalar_type() == at::kHalf ? kernels::AttentionDType::kFloat16 : kernels::AttentionDType::kBFloat16;

  const c10::cuda::CUDAGuard guard(q.device());
  try {
    // The split-KV decode path keeps per-split partial results in scratch
    // memory; taking it from the caching allocator keeps the call
    // stream-ordered and CUDA-graph capturable.
    const auto workspace_bytes = kernels::attention_workspace_bytes(p);
    at::Tensor workspace;
    if (workspace_bytes > 0) {
      workspace = at::empty({static_cast<int64_t>(workspace_bytes)}, q.options().dtype(at::kByte));
    }
    kernels::attention_forward(p, c10::cuda::getCurrentCUDAStream(q.device().index()).stream(),
                               workspace_bytes > 0 ? workspace.data_ptr() : nullptr, workspace_bytes);
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, "mlopt::flash_attention: ", e.what());
  }
  return out;
}

}  // namespace

bool cuda_kernels_registered() { return true; }

}  // namespace mlopt::ops

TORCH_LIBRARY_IMPL(mlopt, CUDA, m) { m.impl("flash_attention", &mlopt::ops::flash_attention_cuda); }
