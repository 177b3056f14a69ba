#pragma once
// Internal: the pieces mlp_forward composes, one family per file.
//
//   mlp_gemm.cuh (+ mlp_gemm_*.cu)  mlopt's tensor-core GEMM with the MLP epilogue
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

// Tile shapes of mlopt's GEMM (mlp_gemm.cuh has the numbers and the why).
enum class GemmTile {
  kLarge,    // 128 tokens x 128 features, for many tokens
  kSmall16,  // 16 tokens: decode
  kSmall64,  // 64 tokens: decode with a few more tokens
};

// out[m, n] = epilogue(a[m, k] . w^T) on mlopt's kernel, where w holds
// n features (gated: 2n, packed) in `layout`. With splits > 1 each split
// of K writes fp32 partial sums to `partials` ([splits][m][gated ? 2n : n],
// gate sums in columns [0, n), up sums in [n, 2n)) and a reduction kernel
// applies the epilogue.
struct GemmArgs {
  const void* a = nullptr;  // [m, k], rows contiguous
  const void* w = nullptr;  // kOutIn: [n_packed, k]; kInOut: [k, n_packed]
  int m = 0, n = 0, k = 0;
  Epilogue epilogue;
  GemmTile tile = GemmTile::kLarge;
  int splits = 1;
  int k_tiles_per_split = 0;   // in units of the tile's K step
  float* partials = nullptr;   // splits > 1 and not cluster_splits only
  // The decode kernels (run_decode): the splits of K are the blocks of a
  // thread-block cluster and are summed in its distributed shared memory
  // (no partials); each block first asks L2 for the first prefetch_k
  // elements (a multiple of 8) of its K range of its weight tile.
  bool cluster_splits = false;
  int prefetch_k = 0;
  // The decode down projection: its first pipeline stages of weights are
  // loaded before it waits for the previous kernel (the up projection,
  // which writes only h), its activations after.
  bool weights_before_wait = false;
};

// The tile's K step (elements) and token rows.
int gemm_tile_k(GemmTile tile);
int gemm_tile_m(GemmTile tile);
int gemm_tile_features(GemmTile tile, bool gated);

// Fills splits and k_tiles_per_split: `requested` (0 = choose) capped by
// the K tiles; chosen so the grid covers the device's SMs about twice.
// With g.cluster_splits (the decode kernels) also capped at the largest
// portable cluster (8) and not limited by the partial sums' size (there are
// none).
void plan_splits(GemmArgs& g, int requested, int sm_count);
// Bytes of fp32 partial sums the split GEMM writes (0 unsplit or cluster_splits).
std::size_t gemm_partials_bytes(const GemmArgs& g);
// The decode kernels' L2 prefetch (GemmArgs::prefetch_k): as many K
// elements per block as share `budget_bytes` among the grid's blocks,
// whole splits where they fit. Needs splits planned.
void plan_prefetch(GemmArgs& g, std::size_t budget_bytes);

// Runs the GEMM (and the split reduction if splits > 1) on `stream`.
void run_gemm(const GemmArgs& g, WeightLayout layout, MlpDType dtype, cudaStream_t stream);

// Both projections of MlpImpl::kDecode, one launch each (mlp_gemm.cuh
// says how): `up` writes h (up.epilogue.out), which `down` reads as its a;
// both planned with the same small tile and cluster_splits. Compute
// capability 9.0 or newer (the caller checks: decode_device).
void run_decode(const GemmArgs& up, const GemmArgs& down, WeightLayout layout, MlpDType dtype, cudaStream_t stream);

// The current device's compute capability as major * 10 + minor; 0 where
// there is no CUDA device.
int device_compute_capability();
// Whether the decode kernels can run on the current device (9.0 or newer).
inline bool decode_device() { return device_compute_capability() >= 90; }

// Per (dtype, layout) instantiations (mlp_gemm_<dtype>_<layout>.cu).
void run_gemm_fp16_out_in(const GemmArgs& g, cudaStream_t stream);
void run_gemm_fp16_in_out(const GemmArgs& g, cudaStream_t stream);
void run_gemm_bf16_out_in(const GemmArgs& g, cudaStream_t stream);
void run_gemm_bf16_in_out(const GemmArgs& g, cudaStream_t stream);
void run_decode_fp16_out_in(const GemmArgs& up, const GemmArgs& down, cudaStream_t stream);
void run_decode_fp16_in_out(const GemmArgs& up, const GemmArgs& down, cudaStream_t stream);
void run_decode_bf16_out_in(const GemmArgs& up, const GemmArgs& down, cudaStream_t stream);
void run_decode_bf16_in_out(const GemmArgs& up, const GemmArgs& down, cudaStream_t stream);

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
