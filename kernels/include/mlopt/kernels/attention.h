#pragma once
// Attention forward on raw pointers: out = softmax(scale * Q K^T + mask) V.
//
//   q, out : [batch, q_heads,  q_len,  head_dim]  (any strides; head_dim stride 1)
//   k, v   : [batch, kv_heads, kv_len, head_dim]
//   lse    : [batch, q_heads, q_len], contiguous fp32, optional: the natural
//            log of sum_j exp(scale * q.k_j) over the keys the query sees.
//
// Grouped-query / multi-query attention: q head h reads kv head
// h / (q_heads / kv_heads). Causal masking is aligned bottom-right, as with a
// KV cache: query i sees key j when j <= i + kv_len - q_len. A query that
// sees no key (causal with q_len > kv_len) gets zeros and lse = -inf.
//
// Inputs and out are fp16 or bf16 (`dtype`); arithmetic is fp32.
// This header is C++17 (CUDA sources include it) and needs no CUDA headers
// unless MLOPT_KERNELS_HAVE_CUDA is defined.
#include <cstddef>
#include <cstdint>

#ifdef MLOPT_KERNELS_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace mlopt::kernels {

enum class AttentionDType { kFloat16, kBFloat16 };

const char* to_string(AttentionDType dtype);

// Element strides of a rank-4 tensor [batch, heads, rows, head_dim].
struct TensorStrides {
  int64_t batch = 0;
  int64_t head = 0;
  int64_t row = 0;
  int64_t dim = 1;  // must be 1
};

// [batch, heads, rows, head_dim] stored contiguously (BHSD).
inline TensorStrides bhsd_strides(int heads, int rows, int head_dim) {
  return {int64_t{heads} * rows * head_dim, int64_t{rows} * head_dim, head_dim, 1};
}
// [batch, rows, heads, head_dim] stored contiguously (BSHD), viewed as BHSD.
inline TensorStrides bshd_strides(int heads, int rows, int head_dim) {
  return {int64_t{rows} * heads * head_dim, head_dim, int64_t{heads} * head_dim, 1};
}

// Which GPU implementation runs a call. kAuto picks by shape: the split-KV
// decode path for a few query rows over a long KV cache, the prefill kernel
// otherwise (kPrefillSm90 on a compute capability 9.0 device when the build
// has it and TMA can describe q/k/v, else kPrefillMma). The others force
// one (tests and benchmarks compare them).
enum class AttentionImpl {
  kAuto,
  kPrefillWmma,    // tiled, nvcuda::wmma, O in shared memory (the first kernel; a cross-check)
  kPrefillMma,     // tiled, mma.sync with register-resident S/P/O and cp.async K/V pipeline
  kDecodeSplitKv,  // flash-decoding: KV split across blocks, merged by log-sum-exp
  kPrefillSm90,    // Hopper (cc 9.0 only): TMA loads, wgmma, warp-specialised producer/consumers;
                   // needs q/k/v 16-byte aligned with strides that are multiples of 8 elements
};

const char* to_string(AttentionImpl impl);

struct AttentionParams {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* out = nullptr;
  float* lse = nullptr;  // optional, [batch, q_heads, q_len] contiguous

  TensorStrides q_strides, k_strides, v_strides, out_strides;

  int batch = 0;
  int q_heads = 0;
  int kv_heads = 0;  // must divide q_heads (== q_heads: MHA, 1: MQA)
  int q_len = 0;
  int kv_len = 0;
  int head_dim = 0;
  float softmax_scale = 0.0f;  // usually 1 / sqrt(head_dim)
  bool causal = false;
  AttentionDType dtype = AttentionDType::kFloat16;

  AttentionImpl impl = AttentionImpl::kAuto;
  // Decode path: how many blocks share one KV sequence. 0 chooses from the
  // device's SM count; 1 does not split; n forces n (tests use this).
  int num_splits = 0;
};

// Head dims the GPU kernel supports now.
inline bool attention_head_dim_supported(int head_dim) { return head_dim == 64 || head_dim == 128; }

// Throws std::invalid_argument naming the offending parameter: unsupported
// head_dim or dtype, null q/k/v/out, non-positive sizes, kv_heads not
// dividing q_heads, a head_dim stride other than 1, a non-finite scale.
void validate(const AttentionParams& params);

// CPU reference (double accumulation). q/k/v/out are host pointers to raw
// fp16/bf16 bits (uint16_t); writes out (rounded to dtype) and lse if given.
void attention_reference(const AttentionParams& params);
// The same, but the output is written un-rounded as fp32 to `out_f32`, laid
// out with params.out_strides; lse goes to `lse_f32` if not null (params.out
// and params.lse are not touched and may be null).
void attention_reference_f32(const AttentionParams& params, float* out_f32, float* lse_f32);

#ifdef MLOPT_KERNELS_HAVE_CUDA
// Scratch memory (device, any alignment >= 256 B) the call needs on the
// current device: the split-KV decode path keeps per-split partial outputs
// and log-sum-exps there; 0 when the chosen path needs none.
std::size_t attention_workspace_bytes(const AttentionParams& params);

// The GPU forward on `stream` (device pointers). Validates first
// (std::invalid_argument); throws CudaError for CUDA failures. Asynchronous.
// With less workspace than attention_workspace_bytes() asks for, the decode
// path uses fewer splits (one needs none): slower, never wrong.
void attention_forward(const AttentionParams& params, cudaStream_t stream, void* workspace = nullptr,
                       std::size_t workspace_bytes = 0);
#endif

}  // namespace mlopt::kernels
