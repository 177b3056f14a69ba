// mlopt::flash_attention: the schema, the argument checks and the CPU kernel
// (the reference: fp32 math, the same masking rules as the CUDA kernel).
#include <torch/script.h>
#include <torch/version.h>


#include "flash_attention_check.h"
#include "mlopt/core/ops.h"
#include "torch_optional.h"

namespace mlopt::ops {
namespace {

at::Tensor flash_attention_cpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool is_causal,
                               OptionalScale scale) {
  const auto s = check_attention_args(q, k, v, scale ? std::optional<double>(*scale) : std::nullopt);
  auto kf = k.to(at::kFloat);
  auto vf = v.to(at::kFloat);
  if (s.kv_heads != s.heads) {
    kf = kf.repeat_interleave(s.heads / s.kv_heads, 1);
    vf = vf.repeat_interleave(s.heads / s.kv_heads, 1);
  }
  auto scores = at::matmul(q.to(at::kFloat), kf.transpose(-1, -2)) * s.scale;
  if (is_causal) {
    // Bottom-right: query i sees key j when j <= i + kv_len - q_len.
    const auto rows = at::arange(s.q_len, at::kLong).unsqueeze(1) + (s.kv_len - s.q_len);
    const auto cols = at::arange(s.kv_len, at::kLong).unsqueeze(0);
    scores = scores.masked_fill(cols > rows, -std::numeric_limits<float>::infinity());
  }
  auto probs = at::softmax(scores, -1);
  // A query that sees no key: zeros, as the CUDA kernel writes.
  probs = probs.masked_fill(probs.isnan(), 0.0);
  return at::matmul(probs, vf).to(q.scalar_type());
}

}  // namespace

AttentionShape check_attention_args(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                    std::optional<double> scale) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
              "mlopt::flash_attention: q, k and v must be [batch, heads, seq, head_dim]; got q ", q.sizes(),
              ", k ", k.sizes(), ", v ", v.sizes());
  TORCH_CHECK(k.sizes() == v.sizes(), "mlopt::flash_attention: k ", k.sizes(), " and v ", v.sizes(),
              " must have the same shape");
  TORCH_CHECK(q.size(0) == k.size(0), "mlopt::flash_attention: q and k have different batch sizes (", q.size(0),
              " vs ", k.size(0), ")");
  TORCH_CHECK(q.size(3) == k.size(3), "mlopt::flash_attention: q and k have different head dims (", q.size(3),
              " vs ", k.size(3), ")");
  TORCH_CHECK(k.size(1) > 0 && q.size(1) % k.size(1) == 0, "mlopt::flash_attention: the ", k.size(1),
              " key/value heads must divide the ", q.size(1), " query heads");
  TORCH_CHECK(q.scalar_type() == k.scalar_type() && q.scalar_type() == v.scalar_type(),
              "mlopt::flash_attention: q, k and v must have one dtype");
  TORCH_CHECK(q.device() == k.device() && q.device() == v.device(),
              "mlopt::flash_attention: q, k and v must be on one device");
  TORCH_CHECK(q.is_floating_point(), "mlopt::flash_attention: inputs must be floating point");
  const double s = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  TORCH_CHECK(std::isfinite(s), "mlopt::flash_attention: the scale must be finite");
  return {q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3), s};
}

}  // namespace mlopt::ops

TORCH_LIBRARY(mlopt, m) {
  m.def("flash_attention(Tensor q, Tensor k, Tensor v, bool is_causal=False, float? scale=None) -> Tensor");
}

TORCH_LIBRARY_IMPL(mlopt, CPU, m) { m.impl("flash_attention", &mlopt::ops::flash_attention_cpu); }

namespace mlopt {
namespace ops {
bool fused_mlp_registered();  // fused_mlp_op.cpp (it references its CUDA kernel's file in turn)
bool ring_ops_registered();   // ring_ops.cpp
#if MLOPT_TORCH_CUDA
bool cuda_kernels_registered();  // flash_attention_cuda.cpp
#endif
}  // namespace ops

bool ops_registered() {
#if MLOPT_TORCH_CUDA
  // A reference keeps the CUDA kernels' registration linked in.
  return ops::cuda_kernels_registered() && ops::fused_mlp_registered() && ops::ring_ops_registered();
#else
  return ops::fused_mlp_registered() && ops::ring_ops_registered();
#endif
}
}  // namespace mlopt
