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
#include <optional>
#include <stdexcept>
#include <string>

#include "mlopt/kernels/cuda_check.h"
#include "mlopt/kernels/mlp.h"
#include "mlp_dispatch.h"

namespace mlopt::kernels::mlp_detail {

// The GEMM configurations compiled in (mlp_sm90_gemm.cuh, Sm90ConfigTraits,
// has their tile/cluster/schedule types), one .cu per (dtype, config).
// Cooperative: both consumer warpgroups share one tile (each a half along
// M), the epilogue runs while the producer prefetches the next tile.
// Pingpong: each consumer warpgroup owns a whole tile, and one's epilogue
// overlaps the other's mainloop. Cluster a x b: a CTAs along M (tokens)
// share each weight tile by TMA multicast, b CTAs along N share the x tile.
// Stages: as many as fit in 227 KiB (StageCountAutoCarveout; the epilogue
// uses no shared memory): 4 for 128x256 and 256x128, 5 for 64x256, 7 for
// 128x128 — deeper rings only hide more latency, so take all there are.
enum class Sm90GemmConfig {
  kCoop128x256C2x1,  // the first one (fp16 and bf16)
  kCoop128x256C1x2,
  kCoop128x256C1x1,
  kCoop256x128C1x2,
  kCoop256x128C2x1,
  kPing128x128C2x1,
  kPing128x128C1x1,
  kPing64x256C1x1,
};
inline constexpr Sm90GemmConfig kSm90Configs[] = {
    Sm90GemmConfig::kCoop128x256C2x1, Sm90GemmConfig::kCoop128x256C1x2, Sm90GemmConfig::kCoop128x256C1x1,
    Sm90GemmConfig::kCoop256x128C1x2, Sm90GemmConfig::kCoop256x128C2x1, Sm90GemmConfig::kPing128x128C2x1,
    Sm90GemmConfig::kPing128x128C1x1, Sm90GemmConfig::kPing64x256C1x1,
};

inline const char* to_string(Sm90GemmConfig c) {
  switch (c) {
    case Sm90GemmConfig::kCoop128x256C2x1: return "coop_128x256_c2x1";
    case Sm90GemmConfig::kCoop128x256C1x2: return "coop_128x256_c1x2";
    case Sm90GemmConfig::kCoop128x256C1x1: return "coop_128x256_c1x1";
    case Sm90GemmConfig::kCoop256x128C1x2: return "coop_256x128_c1x2";
    case Sm90GemmConfig::kCoop256x128C2x1: return "coop_256x128_c2x1";
    case Sm90GemmConfig::kPing128x128C2x1: return "ping_128x128_c2x1";
    case Sm90GemmConfig::kPing128x128C1x1: return "ping_128x128_c1x1";
    case Sm90GemmConfig::kPing64x256C1x1: return "ping_64x256_c1x1";
  }
  return "?";
}

// Which configurations are compiled for a dtype: all for fp16 (the tuning
// set), only the first for bf16 (compile time; add a mlp_sm90_bf16_<config>.cu
// like the fp16 ones and list it here to build another).
constexpr bool sm90_config_built(Sm90GemmConfig c, MlpDType dtype) {
  return dtype == MlpDType::kFloat16 || c == Sm90GemmConfig::kCoop128x256C2x1;
}

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
  Sm90GemmConfig config = Sm90GemmConfig::kCoop128x256C2x1;  // must be built for the dtype
};

// The configuration kSm90 runs for these params, from bench_mlp_sm90_tune
// on an H100. Edit this table from its output (the fastest config per
// shape); a config not built for the dtype falls back to the first.
//   status: not yet tuned — every shape takes the first configuration.
//   (measured 2026-11-25 at 0.48-0.99x of the cuBLASLt path, so kAuto does
//   not take kSm90 at all; mlp_launch.cpp.)
inline Sm90GemmConfig sm90_table_config(int tokens, bool gated, WeightLayout layout) {
  (void)tokens;
  (void)gated;
  (void)layout;
  return Sm90GemmConfig::kCoop128x256C2x1;
}

// Tests and benchmarks force one configuration for every kSm90 call in the
// process (nullopt: back to the table). Defined in mlp_launch.cpp; not
// thread-safe against concurrent kSm90 calls (set it before, reset after).
void sm90_force_config(std::optional<Sm90GemmConfig> config);
std::optional<Sm90GemmConfig> sm90_forced_config();

inline Sm90GemmConfig sm90_default_config(const MlpParams& p) {
  Sm90GemmConfig c = sm90_table_config(p.tokens, p.gated, p.layout);
  if (const auto forced = sm90_forced_config()) c = *forced;
  return sm90_config_built(c, p.dtype) ? c : Sm90GemmConfig::kCoop128x256C2x1;
}

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
  a.config = sm90_default_config(p);
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
// code runs on). False without a GPU, so kAuto's choice never throws on a
// machine without one.
inline bool sm90_device() { return device_compute_capability() == 90; }

#ifdef MLOPT_KERNELS_HAVE_SM90
// One (dtype, config): the GEMM's own device workspace (its tile
// scheduler's) and the launch on `stream`, both weight layouts. Throw
// std::invalid_argument when CUTLASS cannot implement the problem,
// std::runtime_error when the launch fails.
struct Sm90Entry {
  std::size_t (*workspace)(const Sm90UpArgs& a);
  void (*run)(const Sm90UpArgs& a, void* workspace, std::size_t workspace_bytes, cudaStream_t stream);
};
// mlp_sm90_<dtype>_<config>.cu, one each.
Sm90Entry sm90_entry_fp16_coop128x256_c2x1();
Sm90Entry sm90_entry_fp16_coop128x256_c1x2();
Sm90Entry sm90_entry_fp16_coop128x256_c1x1();
Sm90Entry sm90_entry_fp16_coop256x128_c1x2();
Sm90Entry sm90_entry_fp16_coop256x128_c2x1();
Sm90Entry sm90_entry_fp16_ping128x128_c2x1();
Sm90Entry sm90_entry_fp16_ping128x128_c1x1();
Sm90Entry sm90_entry_fp16_ping64x256_c1x1();
Sm90Entry sm90_entry_bf16_coop128x256_c2x1();

// Throws std::invalid_argument for a config not built for the dtype.
inline Sm90Entry sm90_entry(Sm90GemmConfig c, MlpDType dtype) {
  if (dtype == MlpDType::kBFloat16) {
    if (c == Sm90GemmConfig::kCoop128x256C2x1) return sm90_entry_bf16_coop128x256_c2x1();
  } else {
    switch (c) {
      case Sm90GemmConfig::kCoop128x256C2x1: return sm90_entry_fp16_coop128x256_c2x1();
      case Sm90GemmConfig::kCoop128x256C1x2: return sm90_entry_fp16_coop128x256_c1x2();
      case Sm90GemmConfig::kCoop128x256C1x1: return sm90_entry_fp16_coop128x256_c1x1();
      case Sm90GemmConfig::kCoop256x128C1x2: return sm90_entry_fp16_coop256x128_c1x2();
      case Sm90GemmConfig::kCoop256x128C2x1: return sm90_entry_fp16_coop256x128_c2x1();
      case Sm90GemmConfig::kPing128x128C2x1: return sm90_entry_fp16_ping128x128_c2x1();
      case Sm90GemmConfig::kPing128x128C1x1: return sm90_entry_fp16_ping128x128_c1x1();
      case Sm90GemmConfig::kPing64x256C1x1: return sm90_entry_fp16_ping64x256_c1x1();
    }
  }
  throw std::invalid_argument(std::string("mlp: the Hopper up projection's configuration ") + to_string(c) +
                              " is not built for " + mlopt::kernels::to_string(dtype));
}

inline std::size_t sm90_up_workspace(const Sm90UpArgs& a, MlpDType dtype) {
  return sm90_entry(a.config, dtype).workspace(a);
}
inline void run_sm90_up(const Sm90UpArgs& a, MlpDType dtype, void* workspace, std::size_t workspace_bytes,
                        cudaStream_t stream) {
  sm90_entry(a.config, dtype).run(a, workspace, workspace_bytes, stream);
}
#endif

}  // namespace mlopt::kernels::mlp_detail
