#pragma once
// A transformer MLP block on raw pointers, fused:
//
//   non-gated:  h   = act(x W_up^T + b_up)                       [tokens, d_ff]
//   gated:      h   = act(x W_gate^T + b_gate) * (x W_up^T + b_up)  (SwiGLU: kSilu, GeGLU: kGeluTanh/kGeluErf)
//   then:       out = h W_down^T + b_down (+ residual)           [tokens, d_model]
//
// h is rounded to the input dtype (as an unfused sequence would store it);
// all sums are fp32 on the GPU. The gated product is formed in registers:
// the two [tokens, d_ff] projections are never written.
//
// Weights come in nn.Linear's layout ([out, in], kOutIn) or GPT-2 Conv1D's
// ([in, out], kInOut); every matrix is dense (rows contiguous). A gated w_up
// holds both projections, 2 * d_ff output features, packed as GateUpPacking
// says: kConcatenated = [gate; up] (the gate's d_ff features first, e.g.
// torch.cat([gate_proj.weight, up_proj.weight]) for kOutIn), kInterleaved =
// gate and up alternating feature by feature (gate j = feature 2j, up j =
// feature 2j+1). b_up (optional) is packed the same way.
//
// Inputs and out are fp16 or bf16 (`dtype`). This header is C++17 (CUDA
// sources include it) and needs no CUDA headers unless
// MLOPT_KERNELS_HAVE_CUDA is defined.
#include <cstddef>
#include <cstdint>

#ifdef MLOPT_KERNELS_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace mlopt::kernels {

enum class MlpDType { kFloat16, kBFloat16 };

enum class Activation {
  kNone,      // identity (gated: the bilinear GLU)
  kRelu,      // max(x, 0)
  kGeluErf,   // x/2 (1 + erf(x / sqrt 2)): nn.GELU()
  kGeluTanh,  // x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): nn.GELU('tanh'), GPT-2's gelu_new
  kSilu,      // x / (1 + e^-x)
};

enum class WeightLayout {
  kOutIn,  // nn.Linear: W [out_features, in_features]
  kInOut,  // GPT-2 Conv1D: W [in_features, out_features]
};

enum class GateUpPacking { kConcatenated, kInterleaved };

// Which GPU implementation runs a call. kAuto takes the one measured fastest
// (mlp_launch.cpp says why: on a GPU of compute capability 9.0+, kDecode
// for at most 16 tokens of an MLP whose weights take at most 9 MiB, e.g.
// GPT-2 small's, or at least 78 MiB, e.g. Qwen2.5 1.5B's, Llama 3.2 1B's or
// Llama-7B's, and for at most 8 tokens of one up to 16 MiB, e.g. GPT-2
// medium's; kCublasLt otherwise).
// The others force one (tests and benchmarks compare
// them); forcing one the params or the device cannot run throws
// std::invalid_argument.
enum class MlpImpl {
  kAuto,
  // Few tokens: each projection is one launch of mlopt's decode kernel,
  // which streams the weights once from memory straight into mma.sync
  // registers (no shared-memory staging), 16 bytes per lane per load, from
  // enough warps to keep every SM's memory pipe full; the activations are
  // read in the order the weights arrive in. A block sums its warps' parts
  // of K in shared memory (in the mma's fragment order, free of bank
  // conflicts); where K is split further across the blocks of a
  // thread-block cluster, their sums meet in distributed shared memory (no
  // partial sums in memory, no reduction kernel). The down projection is a
  // programmatic dependent launch: its warps load their first weights while
  // the up projection runs and wait only before reading h. Any token count
  // runs (in groups of 16 tokens, each re-reading the weights: meant for
  // at most 16). Compute capability 9.0 or newer; forcing it on an older
  // GPU throws std::invalid_argument.
  kDecode,
  // The up projection (gated or not, any activation) on mlopt's tiled
  // tensor-core GEMM with the epilogue fused; the down projection on
  // cuBLASLt (bias epilogue, residual as beta * C).
  kFused,
  // Both projections on cuBLASLt: its bias/ReLU/GELU(tanh) epilogues where
  // they exist; erf-GELU, SiLU and the gated product by a separate
  // elementwise kernel over the stored projection. Gated: [gate | up] is
  // stored for at most row_block tokens at a time; when all tokens fit one
  // block, h is made in place in it, so the intermediates take
  // [tokens, 2 d_ff], half of what the unfused gate, up, act(gate) and
  // product take.
  kCublasLt,
  // Hopper (compute capability 9.0 only; mlopt built with the CUTLASS
  // headers for CUDA arch 90): the up projection on a warp-specialised
  // wgmma/TMA GEMM whose epilogue applies bias, activation and the gated
  // product in registers and writes only h; the down projection on cuBLASLt
  // as kCublasLt does. Gated MLPs need GateUpPacking::kInterleaved (gate and
  // up of one feature in adjacent accumulator columns); both weight layouts.
  kSm90,
};

// Whether the gated kCublasLt path, over more than one row block, runs the
// blocks on two streams: block b's up GEMM, in-place activation and down
// GEMM on the caller's stream (b even) or on a second stream (b odd), so
// that one block's memory-bound activation pass overlaps the other's
// compute-bound GEMMs rather than leaving the tensor cores idle between
// them. Each stream has its own stored projection and cuBLASLt workspace
// (the workspace grows by one block and 32 MiB; no separate h is kept). The
// second stream is forked from and joined back into the caller's stream
// (CUDA-graph capture sees one fork and one join); it is created the first
// time a host thread asks on a device, and a call captured before that
// runs the same blocks on the caller's stream alone. kAuto decides
// (mlp_launch.cpp says how); kOn / kOff force it (benchmarks compare).
// Results are the same either way.
enum class RowBlockOverlap { kAuto, kOff, kOn };

const char* to_string(MlpDType dtype);
const char* to_string(Activation activation);
const char* to_string(WeightLayout layout);
const char* to_string(GateUpPacking packing);
const char* to_string(MlpImpl impl);
const char* to_string(RowBlockOverlap overlap);

struct MlpParams {
  const void* x = nullptr;         // [tokens, d_model]
  const void* w_up = nullptr;      // kOutIn: [n_up, d_model]; kInOut: [d_model, n_up]; n_up = d_ff (gated: 2 d_ff)
  const void* b_up = nullptr;      // [n_up] or null
  const void* w_down = nullptr;    // kOutIn: [d_model, d_ff]; kInOut: [d_ff, d_model]
  const void* b_down = nullptr;    // [d_model] or null
  const void* residual = nullptr;  // [tokens, d_model] or null; may be the same buffer as out
  void* out = nullptr;             // [tokens, d_model]

  int tokens = 0;
  int d_model = 0;
  int d_ff = 0;  // the width of h (for gated: of each of gate and up)
  Activation activation = Activation::kGeluTanh;
  bool gated = false;
  GateUpPacking gate_up = GateUpPacking::kConcatenated;
  WeightLayout layout = WeightLayout::kOutIn;
  MlpDType dtype = MlpDType::kFloat16;

  MlpImpl impl = MlpImpl::kAuto;
  // Split-K of mlopt's GEMMs (kDecode for both projections, kFused for the
  // up projection): 0 chooses from the device's SM count; n forces at most n
  // (never more than there are K tiles, nor, for kDecode, than the 8 blocks
  // of the largest portable cluster), 1 does not split (tests use this).
  int num_splits = 0;
  // kCublasLt, gated: the stored [gate | up] projection is made and
  // activated over blocks of at most this many tokens, one after the other in
  // one reused [block, 2 d_ff] buffer, so its memory stays bounded however
  // many tokens come (the down projection still runs once over all of h).
  // 0 chooses (mlp_default_row_block); n forces blocks of at most n tokens
  // (tests use small ones). The blocks are of equal size (ceil(tokens / n)
  // blocks): a short last block would read the weights again for few rows.
  int row_block = 0;
  // kCublasLt, gated, more than one row block: the blocks on two streams
  // (RowBlockOverlap).
  RowBlockOverlap overlap = RowBlockOverlap::kAuto;
};

// Output features of the up projection: d_ff, or 2 d_ff when gated.
inline int64_t mlp_up_features(const MlpParams& p) { return p.gated ? 2 * int64_t{p.d_ff} : int64_t{p.d_ff}; }

// Throws std::invalid_argument naming the offending parameter: null
// x/w_up/w_down/out, non-positive sizes, d_model or d_ff not a multiple of 8
// (rows are moved in 16-byte pieces), a gated d_ff whose 2 d_ff features
// overflow int, values outside the enums, a negative num_splits or row_block.
void validate(const MlpParams& params);

// An activation in double precision, as the CPU reference applies it (tests
// and benchmarks build their expected values with it).
double apply_activation(double x, Activation activation);

// CPU reference (double accumulation; h rounded to dtype as the GPU path
// stores it). All pointers are host pointers to raw fp16/bf16 bits
// (uint16_t); writes out rounded to dtype.
void mlp_reference(const MlpParams& params);
// The same, but out is written un-rounded as fp32 to `out_f32` ([tokens,
// d_model]); params.out is not touched and may be null.
void mlp_reference_f32(const MlpParams& params, float* out_f32);

#ifdef MLOPT_KERNELS_HAVE_CUDA
// The row block (MlpParams::row_block) the kCublasLt path uses when it is 0,
// in tokens. mlp_launch.cpp gives the measurement behind it.
int mlp_default_row_block();

// The implementation kAuto picks for these params on the current device.
MlpImpl mlp_chosen_impl(const MlpParams& params);

// Scratch memory (device) the call needs on the current device: h
// ([tokens, d_ff] in dtype), split-K partials, the stored projection of the
// kCublasLt path and cuBLASLt's own workspace. Validates first.
std::size_t mlp_workspace_bytes(const MlpParams& params);

// The same, part by part (each part rounded up to 256 bytes).
struct MlpWorkspaceSizes {
  std::size_t h = 0;         // the intermediate [tokens, d_ff] in dtype (0 when it is made in place in scratch)
  std::size_t scratch = 0;   // fp32 split-K partial sums, (kCublasLt, gated) the stored [row block, 2 d_ff] projection, or (kSm90) its GEMM's own workspace
  std::size_t cublaslt = 0;  // cuBLASLt's own workspace (0 when the call does not use cuBLASLt)
  std::size_t total = 0;
};
MlpWorkspaceSizes mlp_workspace_sizes(const MlpParams& params);

// The GPU forward on `stream` (device pointers; x, weights, biases,
// residual and out 16-byte aligned, the workspace 256-byte aligned as
// cudaMalloc and PyTorch's allocator return it). Validates first (std::invalid_argument,
// also for a workspace smaller than mlp_workspace_bytes() or misaligned
// pointers); throws CudaError for CUDA failures and std::runtime_error for
// cuBLASLt failures. Asynchronous. The workspace must stay untouched until
// the work on the stream is done.
void mlp_forward(const MlpParams& params, cudaStream_t stream, void* workspace, std::size_t workspace_bytes);
#endif

}  // namespace mlopt::kernels
