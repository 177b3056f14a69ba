// mlopt::ring_attention on CUDA: parallel::ring_attention_cuda, its
// workspace from PyTorch's caching allocator, on the current stream.
#include "ring_attention_cuda_op.h"

#include <c10/cuda/CUDAGuard.h>

#include <cmath>

#include "collective_ops.h"
#include "mlopt/parallel/ring_attention_cuda.h"

namespace mlopt::ops {

at::Tensor ring_attention_cuda_op(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool is_causal,
                                  std::optional<double> scale, int64_t world_size) {
  auto& comm = communicator_for("ring_attention", q, world_size);
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "mlopt::ring_attention: q, k, v must be 4-d");
  TORCH_CHECK(q.scalar_type() == at::kHalf || q.scalar_type() == at::kBFloat16,
              "mlopt::ring_attention: the CUDA ring takes fp16 or bf16, got ", q.scalar_type());
  TORCH_CHECK(k.scalar_type() == q.scalar_type() && v.scalar_type() == q.scalar_type(),
              "mlopt::ring_attention: q, k and v must have one dtype");
  const c10::cuda::CUDAGuard guard(q.device());
  parallel::RingAttentionShape shape;
  shape.batch = static_cast<int>(q.size(0));
  shape.q_heads = static_cast<int>(q.size(1));
  shape.kv_heads = static_cast<int>(k.size(1));
  shape.seq_len = q.size(2) * world_size;
  shape.head_dim = static_cast<int>(q.size(3));
  shape.causal = is_causal;
  shape.softmax_scale = static_cast<float>(scale.value_or(1.0 / std::sqrt(static_cast<double>(q.size(3)))));
  shape.dtype = q.scalar_type() == at::kHalf ? kernels::AttentionDType::kFloat16 : kernels::AttentionDType::kBFloat16;
  const auto qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
  auto out = at::empty_like(qc);
  const std::size_t bytes = parallel::ring_attention_cuda_workspace_bytes(shape, static_cast<int>(world_size));
  auto workspace = at::empty({static_cast<int64_t>(bytes)}, q.options().dtype(at::kByte));
  try {
    parallel::ring_attention_cuda(comm, shape, qc.data_ptr(), kc.data_ptr(), vc.data_ptr(), out.data_ptr(),
                                  static_cast<cudaStream_t>(collective_stream(q)), workspace.data_ptr(), bytes);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "mlopt::ring_attention: ", e.what());
  }
  return out;
}

}  // namespace mlopt::ops
