#pragma once
// Internal: the launchers behind attention_forward, one family per file.
// Each takes validated params and dispatches on dtype and head_dim itself.
#include <cuda_runtime.h>

#include <cstddef>
#include <string>

#include "mlopt/kernels/attention.h"

namespace mlopt::kernels::attention_dispatch {

// attention_fwd.cuh (wmma): the first tiled kernel.
void prefill_wmma(const AttentionParams& params, cudaStream_t stream);
// attention_fwd_mma.cuh: mma.sync, register-resident, cp.async pipeline.
void prefill_mma(const AttentionParams& params, cudaStream_t stream);
// attention_fwd_sm90.cuh: Hopper (sm_90a) TMA + wgmma, warp-specialised.
// Defined only when the build has the Hopper kernels (MLOPT_KERNELS_HAVE_SM90).
// Why it cannot run these params on the current device ("" when it can):
// the device is not compute capability 9.0, or TMA cannot describe q/k/v.
std::string prefill_sm90_unavailable(const AttentionParams& params);
// Throws std::invalid_argument with that reason when it cannot run.
void prefill_sm90(const AttentionParams& params, cudaStream_t stream);

// attention_decode.cuh: flash-decoding. Whether auto-dispatch should take it
// for these params, the workspace it wants, and the launch (which uses fewer
// splits if the workspace is short).
bool decode_preferred(const AttentionParams& params);
std::size_t decode_workspace_bytes(const AttentionParams& params);
void decode_split_kv(const AttentionParams& params, cudaStream_t stream, void* workspace, std::size_t workspace_bytes);

}  // namespace mlopt::kernels::attention_dispatch
