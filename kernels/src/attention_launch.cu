// The public entry: validate, pick the implementation, launch.
#include <stdexcept>
#include <string>

#include "attention_dispatch.h"
#include "mlopt/kernels/attention.h"

namespace mlopt::kernels {
namespace {

AttentionImpl choose(const AttentionParams& p) {
  if (p.impl != AttentionImpl::kAuto) return p.impl;
  if (attention_dispatch::decode_preferred(p)) return AttentionImpl::kDecodeSplitKv;
#ifdef MLOPT_KERNELS_HAVE_SM90
  // The Hopper kernel where it can run (a cc 9.0 device, q/k/v that TMA
  // can describe); the mma.sync kernel everywhere else.
  if (attention_dispatch::prefill_sm90_unavailable(p).empty()) return AttentionImpl::kPrefillSm90;
#endif
  return AttentionImpl::kPrefillMma;
}

}  // namespace

std::size_t attention_workspace_bytes(const AttentionParams& params) {
  validate(params);
  return choose(params) == AttentionImpl::kDecodeSplitKv ? attention_dispatch::decode_workspace_bytes(params) : 0;
}

void attention_forward(const AttentionParams& params, cudaStream_t stream, void* workspace,
                       std::size_t workspace_bytes) {
  validate(params);
  switch (choose(params)) {
    case AttentionImpl::kPrefillWmma: attention_dispatch::prefill_wmma(params, stream); return;
    case AttentionImpl::kPrefillMma: attention_dispatch::prefill_mma(params, stream); return;
    case AttentionImpl::kPrefillSm90:
#ifdef MLOPT_KERNELS_HAVE_SM90
      attention_dispatch::prefill_sm90(params, stream);
      return;
#else
      throw std::invalid_argument(
          "attention: this build of mlopt has no Hopper prefill kernel (kPrefillSm90): it needs the CUTLASS/CuTe "
          "headers and CMAKE_CUDA_ARCHITECTURES including 90; use AttentionImpl::kAuto or kPrefillMma");
#endif
    case AttentionImpl::kDecodeSplitKv:
      attention_dispatch::decode_split_kv(params, stream, workspace, workspace_bytes);
      return;
    case AttentionImpl::kAuto: break;
  }
  throw std::invalid_argument("attention: unknown implementation");
}

}  // namespace mlopt::kernels
