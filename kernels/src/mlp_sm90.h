#pragma once
// Internal: the MLP's up projection on a Hopper (sm_90a) GEMM with the MLP
// epilogue fused (MlpImpl::kSm90); mlp_sm90_gemm.cuh has the kernel.
//
//   h[m, f] = act(x W^T + b)[m, f]                                 (plain)
//   h[m, f] = act(x W_gate^T + b_gate) * (x W_up^T + b_up) [m, f]  (gated)
//
// h [tokens, d_ff] is written once, rounded to the dtype; the down
// projection stays on cuBLASLt (mlp_launch.cpp). What is eligible:
//   - the kernels were built (MLOPT_KERNELS_HAVE_SM90: CUTLASS headers and
//     CUDA arch 90 at configure time) and the current device is cc 9.0
//     (sm_90a code runs on nothing else);
//   - gated projections packed kInterleaved: a wgmma accumulator holds
//     adjacent columns (2q, 2q+1) in one thread, so gate j (feature 2j) and
//     up j (feature 2j+1) meet in registers. kConcatenated puts them d_ff
//     columns apart, in different tiles; it stays on the other paths.
//   - both weight layouts (the mainloop reads W K-major for kOutIn,
//     N-major for kInOut; TMA and wgmma take either for 16-bit types).
// d_model and d_ff are multiples of 8 (validate() checks), which is what
// TMA needs: 16-byte aligned row strides.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <map>
#include <mutex>

#include "mlopt/kernels/cuda_check.h"
#include "mlopt/kernels/device_query.h"
#include "mlopt/kernels/mlp.h"

namespace mlopt::kernels::mlp_detail {

// One up projection: h[m, n_out] from x[m, k] and w (n_out features, or
// 2 n_out interleaved gate/up features when gated) in `layout`.
struct Sm90UpArgs {
  const void* x = nullptr;     // [m, k]
  const void* w = nullptr;     // kOutIn: [n_packed, k]; kInOut: [k, n_packed]
  const void* bias = nullptr;  // [n_packed] (interleaved like w when gated) or null
  void* h = nullptr;           // [m, n_out], rows n_out apart
  int m = 0, n_out = 0, k = 0;
  bool gated = false;
  Activation activation = Activation::kNone;
  WeightLayout layout = WeightLayout::kOutIn;
};

inline Sm90UpArgs sm90_up_args(const MlpParams& p, void* h) {
  Sm90UpArgs a;
  a.x = p.x;
  a.w = p.w_up;
  a.bias = p.b_up;
  a.h = h;
  a.m = p.tokens;
  a.n_out = p.d_ff;
  a.k = p.d_model;
  a.gated = p.gated;
  a.activation = p.activation;
  a.layout = p.layout;
  return a;
}

constexpr bool sm90_built() {
#ifdef MLOPT_KERNELS_HAVE_SM90
  return true;
#else
  return false;
#endif
}

// Why these (validated) params cannot run on kSm90, or nullptr when they
// can. Does not look at the device (sm90_device does).
inline const char* sm90_params_unsupported(const MlpParams& p) {
  if (!sm90_built()) {
    return "mlopt was built without the Hopper kernels (needs the CUTLASS headers and CUDA architecture 90)";
  }
  if (p.gated && p.gate_up != GateUpPacking::kInterleaved) {
    return "a gated MLP needs interleaved gate/up weights (GateUpPacking::kInterleaved)";
  }
  return nullptr;
}

// Whether the current device is compute capability 9.0 (the only one sm_90a
// code runs on). Asked once per device; false without a GPU, so kAuto's
// choice never throws on a machine without one.
inline bool sm90_device() {
  if (device_count() == 0) return false;
  int device = 0;
  MLOPT_CUDA_CHECK(cudaGetDevice(&device));
  static std::mutex mutex;
  static std::map<int, bool> is_sm90;
  const std::lock_guard<std::mutex> lock(mutex);
  auto it = is_sm90.find(device);
  if (it == is_sm90.end()) {
    const DeviceProperties props = device_properties(device);
    it = is_sm90.emplace(device, props.compute_major == 9 && props.compute_minor == 0).first;
  }
  return it->second;
}

#ifdef MLOPT_KERNELS_HAVE_SM90
// Per dtype (mlp_sm90_fp16.cu, mlp_sm90_bf16.cu): the GEMM's own device
// workspace (its tile scheduler's), and the launch on `stream`. Throws
// std::invalid_argument when CUTLASS cannot implement the problem,
// std::runtime_error when the launch fails.
std::size_t sm90_up_workspace_fp16(const Sm90UpArgs& a);
std::size_t sm90_up_workspace_bf16(const Sm90UpArgs& a);
void run_sm90_up_fp16(const Sm90UpArgs& a, void* workspace, std::size_t workspace_bytes, cudaStream_t stream);
void run_sm90_up_bf16(const Sm90UpArgs& a, void* workspace, std::size_t workspace_bytes, cudaStream_t stream);

inline std::size_t sm90_up_workspace(const Sm90UpArgs& a, MlpDType dtype) {
  return dtype == MlpDType::kFloat16 ? sm90_up_workspace_fp16(a) : sm90_up_workspace_bf16(a);
}
inline void run_sm90_up(const Sm90UpArgs& a, MlpDType dtype, void* workspace, std::size_t workspace_bytes,
                        cudaStream_t stream) {
  dtype == MlpDType::kFloat16 ? run_sm90_up_fp16(a, workspace, workspace_bytes, stream)
                              : run_sm90_up_bf16(a, workspace, workspace_bytes, stream);
}
#endif

}  // namespace mlopt::kernels::mlp_detail
