#pragma once
// Internal: the pieces mlp_forward composes, one family per file.
//
//   mlp_gemm.cuh (+ mlp_gemm_*.cu)  mlopt's tensor-core GEMM with the MLP epilogue
//   mlp_decode.cuh (+ mlp_decode_*.cu) the few-token path: weights streamed into mma registers
//   mlp_epilogue.cu                  split-K reduction and the elementwise epilogues (mlp_reduce.cuh)
//   mlp_cublaslt.cpp                 cuBLASLt matmuls with bias/activation/residual epilogues
//   mlp_sm90.h (+ mlp_sm90_*.cu)     the Hopper up projection (CUTLASS wgmma GEMM, fused epilogue)
//   mlp_launch.cpp                   the public entry: choose, carve the workspace, run
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <optional>

#include "mlopt/kernels/mlp.h"

namespace mlopt::kernels::mlp_detail {

// What every epilogue applies to one output element (row r, feature f):
//   plain: v = act(acc + bias[f])
//   gated: v = act(gate + bias[gate f]) * (up + bias[up f]), the gate/up
//          features found in the packed up projection by `packing`
//   then v += residual[r][f] if residual, rounded once to the dtype.
struct Epilogue {
  Activation activation = Activation::kNone;
  bool gated = false;
  GateUpPacking packing = GateUpPacking::kConcatenated;
  const void* bias = nullptr;      // packed like the GEMM's output features, or null
  const void* residual = nullptr;  // [m, n] or null
  void* out = nullptr;             // [m, n]
};

// One projection: out[m, n] = epilogue(a[m, k] . w^T), where w holds n
// features (gated: 2n, packed) in the call's layout. What mlopt's GEMM
// (GemmArgs) and its decode kernels (DecodeArgs) both take.
struct Projection {
  const void* a = nullptr;  // [m, k], rows contiguous
  const void* w = nullptr;  // kOutIn: [n_packed, k]; kInOut: [k, n_packed]
  int m = 0, n = 0, k = 0;
  Epilogue epilogue;
};

// A projection on mlopt's GEMM. With splits > 1 each split of K writes
// fp32 partial sums to `partials` ([splits][m][gated ? 2n : n], gate sums
// in columns [0, n), up sums in [n, 2n)) and a reduction kernel applies
// the epilogue.
struct GemmArgs : Projection {
  int splits = 1;
  int k_tiles_per_split = 0;   // in units of the tile's K step (mlp_gemm.cuh's tiles)
  float* partials = nullptr;   // splits > 1 only
};

// Fills splits and k_tiles_per_split: `requested` (0 = choose) capped by
// the K tiles; chosen so the grid covers the device's SMs about twice.
void plan_splits(GemmArgs& g, int requested, int sm_count);
// Bytes of fp32 partial sums the split GEMM writes (0 unsplit).
std::size_t gemm_partials_bytes(const GemmArgs& g);

// Runs the GEMM (and the split reduction if splits > 1) on `stream`.
void run_gemm(const GemmArgs& g, WeightLayout layout, MlpDType dtype, cudaStream_t stream);

// A projection on MlpImpl::kDecode's kernels (mlp_decode.cuh says how).
struct DecodeArgs : Projection {
  // K is cut into steps (decode_step_k); each block of the cluster along
  // the grid's y takes steps_per_block of them, k_blocks blocks in all.
  int k_blocks = 1;
  int steps_per_block = 0;
  // The down projection: it loads its first step of weights before it
  // waits for the previous kernel (the up projection, which writes only h);
  // with hold_weights (a small MLP) its first held_steps steps (each warp),
  // and it asks L2 for its later steps' weights too.
  bool weights_before_wait = false;
  bool hold_weights = false;
  int held_steps = 1;  // 1 or kDecodeHeldSteps; plan_decode sets it
  // [in, out] weights, plain: slabs of 64 features instead of 128 (twice
  // the blocks); plan_decode sets it.
  bool narrow = false;
};

// The decode kernels' geometry: warps per block, the most blocks of a
// cluster along K (the largest portable cluster), K per warp step and
// output features per block (slab), per weight layout.
constexpr int kDecodeWarps = 8;
constexpr int kDecodeMaxClusterBlocks = 8;
constexpr int kDecodeHeldSteps = 3;  // DecodeArgs::held_steps of a small MLP's down projection
constexpr int decode_step_k(WeightLayout layout) { return layout == WeightLayout::kOutIn ? 128 : 16; }
constexpr int decode_slab_features(WeightLayout layout, bool gated, bool narrow) {
  return (layout == WeightLayout::kOutIn ? 16 : narrow ? 64 : 128) / (gated ? 2 : 1);
}
// Tokens per block: 8 for at most 8 tokens, else 16 (blocks along the grid's z).
constexpr int decode_token_group(int tokens) { return tokens <= 8 ? 8 : 16; }

// Fills k_blocks and steps_per_block: `requested` (0 = choose) blocks
// along K, capped by the steps and kDecodeMaxClusterBlocks; chosen so the
// grid has about two blocks per SM while each warp keeps at least one step.
// Before them, for the down projection (weights_before_wait), narrow and
// held_steps (mlp_decode_plan.cpp says when); the up projection takes
// neither.
void plan_decode(DecodeArgs& d, WeightLayout layout, int requested, int sm_count);
// For bench_mlp (--decode-held, --decode-slabs, --decode-up-splits): what
// plan_decode chooses, forced process-wide (held_steps: 1 or
// kDecodeHeldSteps, for a down projection that holds its weights; narrow:
// for a down projection of [in, out] weights; up_k_blocks: the up
// projection's blocks along K, as MlpParams::num_splits asks for both); an
// empty field leaves the planner's choice.
struct DecodeForced {
  std::optional<int> held_steps;
  std::optional<bool> narrow;
  std::optional<int> up_k_blocks;
};
void decode_force(const DecodeForced& forced);
// The grid of a planned projection: slabs x k_blocks x token groups (throws
// std::invalid_argument beyond the grid's limits).
dim3 decode_grid(const DecodeArgs& d, WeightLayout layout);

// Both projections on `stream`: `up` writes h (up.epilogue.out), which
// `down` reads as its a. Compute capability 9.0 or newer (the caller
// checks: decode_device).
void run_decode(const DecodeArgs& up, const DecodeArgs& down, WeightLayout layout, MlpDType dtype,
                cudaStream_t stream);

// The current device's compute capability as major * 10 + minor; 0 where
// there is no CUDA device.
int device_compute_capability();
// The decode kernels need compute capability 9.0 or newer (clusters,
// programmatic dependent launch); decode_device: the current device has it.
constexpr int kDecodeMinCapability = 90;
inline bool decode_device() { return device_compute_capability() >= kDecodeMinCapability; }

// Per (dtype, layout) instantiations (mlp_gemm_<dtype>_<layout>.cu).
void run_gemm_fp16_out_in(const GemmArgs& g, cudaStream_t stream);
void run_gemm_fp16_in_out(const GemmArgs& g, cudaStream_t stream);
void run_gemm_bf16_out_in(const GemmArgs& g, cudaStream_t stream);
void run_gemm_bf16_in_out(const GemmArgs& g, cudaStream_t stream);
// Per (dtype, layout) decode instantiations (mlp_decode_<dtype>_<layout>.cu).
void run_decode_fp16_out_in(const DecodeArgs& up, const DecodeArgs& down, cudaStream_t stream);
void run_decode_fp16_in_out(const DecodeArgs& up, const DecodeArgs& down, cudaStream_t stream);
void run_decode_bf16_out_in(const DecodeArgs& up, const DecodeArgs& down, cudaStream_t stream);
void run_decode_bf16_in_out(const DecodeArgs& up, const DecodeArgs& down, cudaStream_t stream);

// mlp_epilogue.cu. Sums `splits` partial slices ([splits][m][gated ? 2n : n]
// fp32) and applies the epilogue into e.out [m, n].
void reduce_splits(const float* partials, int splits, int m, int n, const Epilogue& e, MlpDType dtype,
                   cudaStream_t stream);
// The kCublasLt path's activation where cuBLASLt has no epilogue for it:
// e.out[m, n] = act(projection) (non-gated; in place is fine) or
// act(gate) * up from `projection` [m, 2n] packed as e.packing. Biases were
// added by cuBLASLt already (e.bias is ignored), as was the rounding of the
// projection to the dtype; residual must be null.
void apply_activation(const void* projection, int m, int n, const Epilogue& e, MlpDType dtype, cudaStream_t stream);
// The same for a gated projection [m, 2n], written in place: row r's first
// n values become h's row r (so h has row stride 2n); e.out is ignored.
void apply_activation_in_place(void* projection, int m, int n, const Epilogue& e, MlpDType dtype, cudaStream_t stream);

// mlp_cublaslt.cpp. d[m, n] = a[m, k] . w^T (+ bias[n]) -> activation
// (kNone, kRelu, kGeluTanh: the ones cuBLASLt fuses) (+ c[m, n]; then
// activation must be kNone). fp32 accumulation and scaling.
struct LtMatmul {
  const void* a = nullptr;
  int64_t lda = 0;          // a's row stride in elements (0: k)
  const void* w = nullptr;  // kOutIn: [n, k]; kInOut: [k, n]
  const void* bias = nullptr;
  const void* c = nullptr;
  void* d = nullptr;
  int m = 0, n = 0, k = 0;
  Activation activation = Activation::kNone;
};
bool cublaslt_fuses(Activation activation);
// The workspace handed to cuBLASLt's kernels (Hopper kernels want up to 32 MiB).
constexpr std::size_t kCublasLtWorkspaceBytes = std::size_t{32} << 20;
void cublaslt_matmul(const LtMatmul& mm, WeightLayout layout, MlpDType dtype, cudaStream_t stream, void* workspace,
                     std::size_t workspace_bytes);
// For measurements (bench_mlp --lt-algos): every cuBLASLt matmul after this
// takes the heuristic's answer number `index` (0: its first, which is what
// runs otherwise) instead of the cached first answer, and throws
// std::invalid_argument where the heuristic offers fewer; nullopt restores
// the default. Process-wide.
void cublaslt_force_algo(std::optional<int> index);

}  // namespace mlopt::kernels::mlp_detail
