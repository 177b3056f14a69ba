// prefill_wmma: dispatch on dtype and head_dim to the wmma instantiations
// compiled in attention_fwd_hdim*_*.cu.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <stdexcept>
#include <string>

#include "attention_dispatch.h"

namespace mlopt::kernels {
namespace attention_fwd {
// Defined in attention_fwd.cuh; explicitly instantiated, one per .cu file.
template <int kHeadDim, typename Element>
void launch_attention_fwd(const AttentionParams& params, cudaStream_t stream);
}  // namespace attention_fwd

namespace {
template <typename Element>
void dispatch_head_dim(const AttentionParams& p, cudaStream_t stream) {
  switch (p.head_dim) {
    case 64: attention_fwd::launch_attention_fwd<64, Element>(p, stream); return;
    case 128: attention_fwd::launch_attention_fwd<128, Element>(p, stream); return;
    default: throw std::invalid_argument("attention: head_dim " + std::to_string(p.head_dim) + " is not supported");
  }
}
}  // namespace

void attention_dispatch::prefill_wmma(const AttentionParams& params, cudaStream_t stream) {
  switch (params.dtype) {
    case AttentionDType::kFloat16: dispatch_head_dim<__half>(params, stream); return;
    case AttentionDType::kBFloat16: dispatch_head_dim<__nv_bfloat16>(params, stream); return;
  }
  throw std::invalid_argument("attention: unsupported dtype");
}

}  // namespace mlopt::kernels
