// prefill_sm90: whether the Hopper kernel can run a call, the TMA
// descriptors of q, k and v, and the dispatch on dtype and head_dim to the
// instantiations compiled in attention_fwd_sm90_hdim*_*.cu. Built for
// sm_90a only, in the mlopt_kernels_attention_sm90 object library.
#include <cuda.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "attention_dispatch.h"
#include "attention_fwd_sm90.cuh"
#include "mlopt/kernels/cuda_check.h"

namespace mlopt::kernels {
namespace {

using attention_fwd_sm90::Sm90Args;

// What the kernel needs of the current device, queried once per device:
// compute capability 9.0 (wgmma, TMA and setmaxnreg exist from sm_90a on,
// and code built for sm_90a runs on 9.0 only) and its SM count.
struct DeviceInfo {
  bool sm90 = false;
  int multiprocessors = 0;
};
DeviceInfo current_device_info() {
  constexpr int kMaxDevices = 64;
  // Packed: bit 31 set once known, bit 30 for cc 9.0, the SM count below.
  static std::array<std::atomic<uint32_t>, kMaxDevices> cache{};
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) {
    // No device or no driver (a CPU-only machine): the kernel is simply not
    // available; kAuto goes on to the other paths, which report it themselves.
    (void)cudaGetLastError();
    return {};
  }
  if (device >= 0 && device < kMaxDevices) {
    const uint32_t known = cache[device].load(std::memory_order_relaxed);
    if (known & 0x80000000u) return {(known & 0x40000000u) != 0, static_cast<int>(known & 0x3fffffffu)};
  }
  int major = 0, minor = 0, multiprocessors = 0;
  MLOPT_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  MLOPT_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  MLOPT_CUDA_CHECK(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, device));
  const DeviceInfo info{major == 9 && minor == 0, multiprocessors};
  if (device >= 0 && device < kMaxDevices) {
    cache[device].store(0x80000000u | (info.sm90 ? 0x40000000u : 0u) | (static_cast<uint32_t>(multiprocessors) & 0x3fffffffu),
                        std::memory_order_relaxed);
  }
  return info;
}

bool aligned16(const void* pointer) { return reinterpret_cast<std::uintptr_t>(pointer) % 16 == 0; }

// Why TMA cannot describe one of q/k/v ("" when it can): a base pointer not
// 16-byte aligned, or a batch/head/row stride (of a dimension of extent > 1)
// that is not a positive multiple of 8 elements (16 bytes) below 2^39.
std::string tma_problem(const char* name, const void* pointer, const TensorStrides& s, int batch, int heads,
                        int rows) {
  if (!aligned16(pointer)) return std::string(name) + " is not 16-byte aligned";
  const struct {
    const char* what;
    int64_t stride;
    int extent;
  } dims[] = {{"batch", s.batch, batch}, {"head", s.head, heads}, {"row", s.row, rows}};
  for (const auto& d : dims) {
    if (d.extent > 1 && (d.stride <= 0 || d.stride % 8 != 0 || d.stride >= (int64_t{1} << 39))) {
      return std::string(name) + "'s " + d.what + " stride " + std::to_string(d.stride) +
             " is not a positive multiple of 8 elements (16 bytes) below 2^39";
    }
  }
  return {};
}

using EncodeTiled = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                 const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                 CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

// cuTensorMapEncodeTiled through the runtime's driver entry point, so that
// mlopt links only the runtime (not libcuda).
EncodeTiled encode_tiled() {
  static const EncodeTiled function = [] {
    void* entry = nullptr;
    cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
    MLOPT_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &entry, 12000, cudaEnableDefault,
                                                      &found));
    if (found != cudaDriverEntryPointSuccess || entry == nullptr) {
      throw std::runtime_error("attention: the CUDA driver has no cuTensorMapEncodeTiled (it needs CUDA 12.0 or newer)");
    }
    return reinterpret_cast<EncodeTiled>(entry);
  }();
  return function;
}

// A 4-d TMA descriptor for [batch, heads, rows, head_dim] (head_dim
// contiguous), dims innermost first (head_dim, rows, heads, batch); boxes
// of 64 columns (128 bytes, the swizzle span) x box_rows rows, written to
// shared memory with the 128-byte swizzle the wgmma layouts expect.
// Out-of-bounds rows (>= rows) arrive as zeros. A dimension of extent 1 is
// never stepped, so its stride (which callers may leave 0 or arbitrary) is
// replaced by the packed one.
CUtensorMap make_tma(const char* name, const void* pointer, const TensorStrides& s, int batch, int heads, int rows,
                     int head_dim, AttentionDType dtype, int box_rows) {
  const int64_t row = rows > 1 ? s.row : head_dim;
  const int64_t head = heads > 1 ? s.head : row * rows;
  const int64_t batch_stride = batch > 1 ? s.batch : head * heads;
  const cuuint64_t dims[4] = {static_cast<cuuint64_t>(head_dim), static_cast<cuuint64_t>(rows),
                              static_cast<cuuint64_t>(heads), static_cast<cuuint64_t>(batch)};
  const cuuint64_t strides[3] = {static_cast<cuuint64_t>(row) * 2, static_cast<cuuint64_t>(head) * 2,
                                 static_cast<cuuint64_t>(batch_stride) * 2};
  const cuuint32_t box[4] = {64, static_cast<cuuint32_t>(box_rows), 1, 1};
  const cuuint32_t element_strides[4] = {1, 1, 1, 1};
  CUtensorMap map;
  const CUresult status = encode_tiled()(
      &map, dtype == AttentionDType::kBFloat16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 4,
      const_cast<void*>(pointer), dims, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
      CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (status != CUDA_SUCCESS) {
    throw std::invalid_argument(std::string("attention: kPrefillSm90 cannot describe ") + name +
                                " as a TMA tensor (cuTensorMapEncodeTiled error " + std::to_string(int(status)) +
                                "); use AttentionImpl::kPrefillMma");
  }
  return map;
}

template <typename Element>
void dispatch_head_dim(const Sm90Args& args, cudaStream_t stream) {
  switch (args.p.head_dim) {
    case 64: attention_fwd_sm90::launch_attention_fwd_sm90<64, Element>(args, stream); return;
    case 128: attention_fwd_sm90::launch_attention_fwd_sm90<128, Element>(args, stream); return;
    default:
      throw std::invalid_argument("attention: head_dim " + std::to_string(args.p.head_dim) + " is not supported");
  }
}

}  // namespace

std::string attention_dispatch::prefill_sm90_unavailable(const AttentionParams& p) {
  if (!current_device_info().sm90) return "it needs a device of compute capability 9.0 (H100/H200)";
  for (const std::string& problem :
       {tma_problem("q", p.q, p.q_strides, p.batch, p.q_heads, p.q_len),
        tma_problem("k", p.k, p.k_strides, p.batch, p.kv_heads, p.kv_len),
        tma_problem("v", p.v, p.v_strides, p.batch, p.kv_heads, p.kv_len)}) {
    if (!problem.empty()) return problem + ", so TMA cannot load it";
  }
  constexpr int kBlockM = attention_fwd_sm90::Sm90TileConfig<64>::kBlockM;
  const int64_t m_blocks = (int64_t{p.q_len} + kBlockM - 1) / kBlockM;
  if (int64_t{p.batch} * p.q_heads * m_blocks > INT_MAX) {
    return "batch * q_heads * ceil(q_len / 128) must be at most " + std::to_string(INT_MAX) + " (grid limit)";
  }
  return {};
}

void attention_dispatch::prefill_sm90(const AttentionParams& p, cudaStream_t stream) {
  const std::string why = prefill_sm90_unavailable(p);
  if (!why.empty()) {
    throw std::invalid_argument("attention: the Hopper prefill kernel (kPrefillSm90) cannot run this call: " + why +
                                "; use AttentionImpl::kAuto or kPrefillMma");
  }
  using Cfg = attention_fwd_sm90::Sm90TileConfig<64>;  // kBlockM/kBlockN are the same for both head dims
  static_assert(Cfg::kBlockM == attention_fwd_sm90::Sm90TileConfig<128>::kBlockM &&
                    Cfg::kBlockN == attention_fwd_sm90::Sm90TileConfig<128>::kBlockN,
                "one set of TMA boxes for both head dims");
  Sm90Args args{};
  args.tma_q = make_tma("q", p.q, p.q_strides, p.batch, p.q_heads, p.q_len, p.head_dim, p.dtype, Cfg::kBlockM);
  args.tma_k = make_tma("k", p.k, p.k_strides, p.batch, p.kv_heads, p.kv_len, p.head_dim, p.dtype, Cfg::kBlockN);
  args.tma_v = make_tma("v", p.v, p.v_strides, p.batch, p.kv_heads, p.kv_len, p.head_dim, p.dtype, Cfg::kBlockN);
  args.p = p;
  args.scale_log2 = p.softmax_scale * 1.4426950408889634f;
  const TensorStrides& o = p.out_strides;
  args.vec_out = aligned16(p.out) && o.batch % 8 == 0 && o.head % 8 == 0 && o.row % 8 == 0;
  args.m_blocks = static_cast<int>((int64_t{p.q_len} + Cfg::kBlockM - 1) / Cfg::kBlockM);
  // Block order (see tile_of_block): non-causal, one head's tiles together
  // (K/V reuse in L2); causal, heaviest tiles first over chunks of about
  // two waves (one CTA per SM) so that the light tiles fill the tail.
  const int head_rows = p.batch * p.q_heads;
  if (p.causal) {
    const int64_t want = (2 * int64_t{current_device_info().multiprocessors} + args.m_blocks - 1) / args.m_blocks;
    args.chunk_heads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(want, head_rows)));
  } else {
    args.chunk_heads = 1;
  }
  switch (p.dtype) {
    case AttentionDType::kFloat16: dispatch_head_dim<cute::half_t>(args, stream); return;
    case AttentionDType::kBFloat16: dispatch_head_dim<cute::bfloat16_t>(args, stream); return;
  }
  throw std::invalid_argument("attention: unsupported dtype");
}

}  // namespace mlopt::kernels
