#pragma once
// Merging partial attention results by their log-sum-exp, as ring attention
// (and any split over keys) needs: attention over keys A and attention over
// keys B combine exactly into attention over A u B,
//
//   out = (e^lse_acc out_acc + e^lse_part out_part) / (e^lse_acc + e^lse_part)
//   lse = log(e^lse_acc + e^lse_part)
//
// computed with the larger lse subtracted first (no overflow). A row whose
// part saw no key (lse_part = -inf, what attention_forward writes for it)
// leaves the accumulator unchanged (with `first`: zeros and lse -inf); an
// accumulator row that has seen no key yet (lse_acc = -inf) takes the part
// as it is. This is
// mlopt::parallel::merge_partial's arithmetic, in fp32.
//
//   part_out : [batch, heads, rows, head_dim], fp16/bf16 (`dtype`), as
//              attention_forward writes its output (any strides, head_dim stride 1)
//   part_lse : [batch, heads, rows] fp32, with part_lse_strides (attention_forward's
//              lse is contiguous: lse_strides_contiguous)
//   acc_out  : [batch, heads, rows, head_dim] fp32, acc_strides; acc_lse: [batch, heads, rows] fp32
//   out      : optional; when set, the merged rows are also written there
//              rounded to `dtype` (to nearest even), with out_strides: the
//              finishing step, fused into the last merge of each row.
//
// `first` says the accumulator holds nothing yet: it is not read, only
// written (part copied to it, widened to fp32), so a caller need not fill it
// with zeros and -inf beforehand.
//
// C++17; CUDA headers only with MLOPT_KERNELS_HAVE_CUDA (like attention.h).
#include <cstdint>

#include "mlopt/kernels/attention.h"

#ifdef MLOPT_KERNELS_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace mlopt::kernels {

// Element strides of a rank-3 [batch, heads, rows] tensor (log-sum-exps).
struct LseStrides {
  int64_t batch = 0;
  int64_t head = 0;
  int64_t row = 1;
};

// [batch, heads, rows] stored contiguously, as attention_forward writes lse.
inline LseStrides lse_strides_contiguous(int heads, int rows) { return {int64_t{heads} * rows, rows, 1}; }

struct AttentionMergeParams {
  const void* part_out = nullptr;
  const float* part_lse = nullptr;
  float* acc_out = nullptr;
  float* acc_lse = nullptr;
  void* out = nullptr;  // optional: the merged result in `dtype`

  TensorStrides part_strides, acc_strides, out_strides;
  LseStrides part_lse_strides, acc_lse_strides;

  int batch = 0;
  int heads = 0;
  int rows = 0;
  int head_dim = 0;  // any positive size
  AttentionDType dtype = AttentionDType::kFloat16;
  bool first = false;  // acc_out/acc_lse hold nothing yet: overwrite them
};

// Throws std::invalid_argument naming the offending parameter: null
// part/acc pointers, non-positive sizes, a head_dim stride other than 1,
// an unknown dtype.
void validate(const AttentionMergeParams& params);

// CPU reference on host pointers (part_out and out as raw fp16/bf16 bits,
// uint16_t). Same arithmetic as the kernel (fp32, std::exp/std::log).
void attention_merge_reference(const AttentionMergeParams& params);

#ifdef MLOPT_KERNELS_HAVE_CUDA
// The GPU merge on `stream` (device pointers). Validates first
// (std::invalid_argument); throws CudaError for launch failures. Asynchronous.
// Rows are independent; the part and the accumulator must not overlap.
void attention_merge(const AttentionMergeParams& params, cudaStream_t stream);
#endif

}  // namespace mlopt::kernels
