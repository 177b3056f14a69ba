#include "weight_stream_kernels.h"

#include <algorithm>
#include <cooperative_groups.h>
#include <cuda/atomic>
#include <stdexcept>
#include <string>

#include "mbarrier_sm90.cuh"
#include "mlopt/kernels/cuda_check.h"
#include "mma_sm80.cuh"

namespace mlopt::bench::stream {
namespace {

constexpr int kThreads = 256;

// The decode kernel's weight load (mlp_decode.cuh, load_weights): read
// once, not kept in L1.
__device__ __forceinline__ uint4 load_streamed(const void* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}
__device__ __forceinline__ uint32_t fold(const uint4& v) { return v.x ^ v.y ^ v.z ^ v.w; }

// One word per block, so that no load is dead code.
__device__ __forceinline__ void sink_block(uint32_t value, uint32_t* sink) {
  __shared__ uint32_t block_fold;
  if (threadIdx.x == 0) block_fold = 0;
  __syncthreads();
  atomicXor(&block_fold, value);
  __syncthreads();
  if (threadIdx.x == 0) atomicXor(sink, block_fold);
}

template <int kLoads>
__global__ void __launch_bounds__(kThreads) flat_kernel(const uint4* p, int64_t n, uint32_t* sink) {
  const int64_t stride = int64_t{gridDim.x} * kThreads;
  uint32_t acc = 0;
  for (int64_t i = int64_t{blockIdx.x} * kThreads + threadIdx.x; i < n; i += stride * kLoads) {
    uint4 v[kLoads];
#pragma unroll
    for (int j = 0; j < kLoads; ++j) v[j] = i + j * stride < n ? load_streamed(p + i + j * stride) : uint4{};
#pragma unroll
    for (int j = 0; j < kLoads; ++j) acc ^= fold(v[j]);
  }
  sink_block(acc, sink);
}

__global__ void __launch_bounds__(kThreads, 2) decode_rows_kernel(const Matrix m, uint32_t* sink) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4;
  const auto* base = static_cast<const char*>(m.data);
  const int64_t row0 = int64_t{blockIdx.x} * 16;
  const char* rows[2];
  bool valid[2];
  for (int r = 0; r < 2; ++r) {
    valid[r] = row0 + g + 8 * r < m.rows;
    rows[r] = base + (valid[r] ? row0 + g + 8 * r : 0) * m.row_bytes;
  }
  const int64_t steps = (m.row_bytes + 255) / 256;
  uint32_t acc = 0;
#pragma unroll 1
  for (int64_t step = warp; step < steps; step += 8) {
    uint4 v[2][4];
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const int64_t b = step * 256 + 64 * u + 16 * t;
#pragma unroll
      for (int r = 0; r < 2; ++r) v[r][u] = valid[r] && b < m.row_bytes ? load_streamed(rows[r] + b) : uint4{};
    }
#pragma unroll
    for (int u = 0; u < 4; ++u) acc ^= fold(v[0][u]) ^ fold(v[1][u]);
  }
  sink_block(acc, sink);
}

using kernels::sm80::smem_address;
using kernels::sm90::mbar_arrive;
using kernels::sm90::mbar_arrive_expect_tx;
using kernels::sm90::mbar_init;
using kernels::sm90::mbar_wait;

struct BulkShape {
  int rows;      // per stage
  int segment;   // bytes per row per stage
  int stages;
  int64_t slabs;     // row slabs of `rows`
  int64_t columns;   // column ranges of `segment` per row
  bool interleaved;  // block b takes items b, b + grid, ... (else a contiguous run)
};

// Items (slab, column range), slab-major; block b takes a contiguous run
// of them, or (interleaved) every grid-th from b, so that the blocks'
// items in flight at any time are neighbours in memory. Thread 0 issues
// each item's bulk copies into stage n % stages (n: the block's n-th item);
// all warps read it; thread 0 refills a stage once all 8 warps have
// arrived on its `empty` barrier.
__global__ void __launch_bounds__(kThreads, 1) bulk_kernel(const Matrix m, const BulkShape s, uint32_t* sink) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(128) uint4 ring[];
  __shared__ __align__(8) uint64_t full[16], empty[16];
  const int64_t items = s.slabs * s.columns, grid = gridDim.x, b = blockIdx.x;
  const int64_t first = s.interleaved ? b : items * b / grid;
  const int64_t count = s.interleaved ? (items > b ? (items - b + grid - 1) / grid : 0) : items * (b + 1) / grid - first;
  const int64_t step = s.interleaved ? grid : 1;
  const int stage_bytes = s.rows * s.segment;
  if (threadIdx.x == 0) {
    for (int i = 0; i < s.stages; ++i) {
      mbar_init(smem_address(&full[i]), 1);
      mbar_init(smem_address(&empty[i]), kThreads / 32);
    }
    kernels::sm90::mbar_init_fence();
  }
  __syncthreads();
  const auto issue = [&](int64_t n) {
    const int64_t item = first + n * step;
    const int stage = static_cast<int>(n % s.stages);
    const int64_t slab = item / s.columns, column = item % s.columns;
    const int64_t offset = column * s.segment;
    const int len = static_cast<int>(m.row_bytes - offset < s.segment ? m.row_bytes - offset : s.segment);
    const int rows = static_cast<int>(m.rows - slab * s.rows < s.rows ? m.rows - slab * s.rows : s.rows);
    const uint32_t bar = smem_address(&full[stage]);
    mbar_arrive_expect_tx(bar, static_cast<uint32_t>(len * rows));
    const char* src = static_cast<const char*>(m.data) + slab * s.rows * m.row_bytes + offset;
    const uint32_t dst = smem_address(ring) + stage * stage_bytes;
    for (int r = 0; r < rows; ++r) kernels::sm90::bulk_copy_1d(dst + r * s.segment, src + r * m.row_bytes, len, bar);
  };
  if (threadIdx.x == 0) {
    for (int64_t n = 0; n < count && n < s.stages; ++n) issue(n);
  }
  uint32_t acc = 0;
  const int words = stage_bytes / 16;
  for (int64_t n = 0; n < count; ++n) {
    const int stage = static_cast<int>(n % s.stages);
    const uint32_t parity = static_cast<uint32_t>((n / s.stages) & 1);
    mbar_wait(smem_address(&full[stage]), parity);
    const uint4* data = ring + stage * words;
    for (int x = threadIdx.x; x < words; x += kThreads) acc ^= fold(data[x]);
    __syncwarp();
    if (threadIdx.x % 32 == 0) mbar_arrive(smem_address(&empty[stage]));
    if (threadIdx.x == 0 && n + s.stages < count) {
      mbar_wait(smem_address(&empty[stage]), parity);
      issue(n + s.stages);
    }
  }
  sink_block(acc, sink);
#endif
}

__global__ void __launch_bounds__(kThreads) empty_kernel() {}

// Thread 0 of each block arrives (release) and spins (acquire) until all
// blocks have arrived at barrier b; the counter only grows, so `base` (the
// arrivals of earlier calls) tells where this call's barriers end.
__global__ void __launch_bounds__(kThreads) grid_barrier_kernel(int barriers, unsigned* counter, unsigned base) {
  for (int b = 0; b < barriers; ++b) {
    __syncthreads();
    if (threadIdx.x == 0) {
      const unsigned target = base + (b + 1) * gridDim.x;
      cuda::atomic_ref<unsigned, cuda::thread_scope_device> c(*counter);
      c.fetch_add(1, cuda::memory_order_release);
      while (c.load(cuda::memory_order_acquire) < target) {
      }
    }
    __syncthreads();
  }
}

// See MlpSkeleton. All row segments are whole 16-byte vectors (tn1, tn2, d
// and f / splits multiples of 8 halves).
__global__ void __launch_bounds__(kThreads, 1) mlp_skeleton_kernel(const MlpSkeleton p) {
  extern __shared__ __align__(128) uint4 tile[];
  const int b = static_cast<int>(blockIdx.x), tid = static_cast<int>(threadIdx.x);
  const int n1 = p.f / p.tn1, n2 = p.d / p.tn2, ks = p.f / p.splits;
  const int f0 = (b % n1) * p.tn1, t0 = (b / n1) * p.tm1, rows1 = min(p.tm1, p.m - t0);
  const int c0 = (b % n2) * p.tn2, k0 = (b / n2) * ks;
  const int up_row = p.tn1 / 8, down_row = p.tn2 / 8, x_row = p.d / 8, f_row = p.f / 8, d_row = p.d / 8;
  uint4* up = tile;
  uint4* down = up + p.d * up_row;
  uint4* act = down + ks * down_row;  // x, then h
  const auto* w_up = static_cast<const uint4*>(p.w_up);
  const auto* w_down = static_cast<const uint4*>(p.w_down);
  const auto* x = static_cast<const uint4*>(p.x);
  auto* h = static_cast<uint4*>(p.h);
  using kernels::sm80::cp_async_16;
  for (int i = tid; i < p.d * up_row; i += kThreads) {
    cp_async_16(smem_address(up + i), w_up + (i / up_row) * f_row + f0 / 8 + i % up_row, true);
  }
  for (int i = tid; i < ks * down_row; i += kThreads) {
    cp_async_16(smem_address(down + i), w_down + (k0 + i / down_row) * d_row + c0 / 8 + i % down_row, true);
  }
  for (int i = tid; i < rows1 * x_row; i += kThreads) cp_async_16(smem_address(act + i), x + t0 * x_row + i, true);
  kernels::sm80::cp_async_commit();
  kernels::sm80::cp_async_wait<0>();
  __syncthreads();
  const int up_vectors = p.d * up_row, x_vectors = rows1 * x_row;
  for (int i = tid; i < rows1 * up_row; i += kThreads) {
    const uint4 a = up[i % up_vectors], c = act[i % x_vectors];
    h[(t0 + i / up_row) * f_row + f0 / 8 + i % up_row] = make_uint4(a.x ^ c.x, a.y ^ c.y, a.z ^ c.z, a.w ^ c.w);
  }
  cooperative_groups::this_grid().sync();

  const int h_row = ks / 8;
  for (int i = tid; i < p.m * h_row; i += kThreads) {
    cp_async_16(smem_address(act + i), h + (i / h_row) * f_row + k0 / 8 + i % h_row, true);
  }
  kernels::sm80::cp_async_commit();
  kernels::sm80::cp_async_wait<0>();
  __syncthreads();
  const int down_vectors = ks * down_row, h_vectors = p.m * h_row, part_row = p.tn2 / 4;
  auto* partials = reinterpret_cast<float4*>(p.partials) + static_cast<int64_t>(b / n2) * p.m * (p.d / 4);
  for (int i = tid; i < p.m * part_row; i += kThreads) {
    const uint4 a = down[i % down_vectors], c = act[i % h_vectors];
    partials[(i / part_row) * (p.d / 4) + c0 / 4 + i % part_row] =
        make_float4(__uint_as_float(a.x & c.x), __uint_as_float(a.y & c.y), __uint_as_float(a.z & c.z),
                    __uint_as_float(a.w & c.w));
  }
  cooperative_groups::this_grid().sync();

  const auto* sums = reinterpret_cast<const float4*>(p.partials);
  const auto* residual = static_cast<const uint2*>(p.residual);
  auto* out = static_cast<uint2*>(p.out);
  const int quads = p.m * p.d / 4;
  for (int i = b * kThreads + tid; i < quads; i += static_cast<int>(gridDim.x) * kThreads) {
    float4 acc = sums[i];
    for (int s = 1; s < p.splits; ++s) {
      const float4 v = sums[static_cast<int64_t>(s) * quads + i];
      acc.x += v.x;
      acc.y += v.y;
      acc.z += v.z;
      acc.w += v.w;
    }
    const uint2 r = residual[i];
    out[i] = make_uint2(__float_as_uint(acc.x + acc.y) ^ r.x, __float_as_uint(acc.z + acc.w) ^ r.y);
  }
}

}  // namespace

void run_mlp_skeleton(const MlpSkeleton& p, cudaStream_t stream) {
  const bool shaped = p.m > 0 && p.tm1 > 0 && p.tn1 % 8 == 0 && p.tn2 % 8 == 0 && p.d % 8 == 0 && p.splits > 0 &&
                      p.tn1 > 0 && p.tn2 > 0 && p.f % p.tn1 == 0 && p.d % p.tn2 == 0 && p.f % (8 * p.splits) == 0;
  const int blocks = shaped ? (p.m + p.tm1 - 1) / p.tm1 * (p.f / p.tn1) : 0;
  if (!shaped || blocks != p.d / p.tn2 * p.splits) {
    throw std::invalid_argument("run_mlp_skeleton: the up and down tiles must divide the shapes into the same blocks");
  }
  const int ks = p.f / p.splits;
  const std::size_t smem =
      2 * (static_cast<std::size_t>(p.d) * p.tn1 + static_cast<std::size_t>(ks) * p.tn2 +
           static_cast<std::size_t>(std::max(p.tm1 * p.d, p.m * ks)));
  MLOPT_CUDA_CHECK(
      cudaFuncSetAttribute(mlp_skeleton_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  MlpSkeleton args = p;
  void* params[] = {&args};
  MLOPT_CUDA_CHECK(cudaLaunchCooperativeKernel(reinterpret_cast<const void*>(&mlp_skeleton_kernel),
                                               dim3(static_cast<unsigned>(blocks)), dim3(kThreads), params, smem,
                                               stream));
}

void read_flat(const Matrix& m, int loads_in_flight, int blocks_per_sm, int sm_count, uint32_t* sink,
               cudaStream_t stream) {
  const auto* p = static_cast<const uint4*>(m.data);
  const int64_t n = m.rows * m.row_bytes / 16;
  const dim3 grid(static_cast<unsigned>(blocks_per_sm * sm_count));
  if (loads_in_flight == 4) {
    flat_kernel<4><<<grid, kThreads, 0, stream>>>(p, n, sink);
  } else if (loads_in_flight == 8) {
    flat_kernel<8><<<grid, kThreads, 0, stream>>>(p, n, sink);
  } else {
    throw std::invalid_argument("read_flat: 4 or 8 loads in flight, not " + std::to_string(loads_in_flight));
  }
  MLOPT_CUDA_CHECK_LAUNCH();
}

void read_decode_rows(const Matrix& m, uint32_t* sink, cudaStream_t stream) {
  decode_rows_kernel<<<static_cast<unsigned>((m.rows + 15) / 16), kThreads, 0, stream>>>(m, sink);
  MLOPT_CUDA_CHECK_LAUNCH();
}

void read_bulk(const Matrix& m, int rows, int segment_bytes, int stages, bool interleaved, int sm_count,
               uint32_t* sink, cudaStream_t stream) {
  if (rows < 1 || segment_bytes < 16 || segment_bytes % 16 != 0 || stages < 1 || stages > 16) {
    throw std::invalid_argument("read_bulk: rows >= 1, segments a positive multiple of 16 bytes, 1-16 stages");
  }
  const int smem = rows * segment_bytes * stages;
  MLOPT_CUDA_CHECK(cudaFuncSetAttribute(bulk_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  const BulkShape s{rows, segment_bytes, stages, (m.rows + rows - 1) / rows,
                    (m.row_bytes + segment_bytes - 1) / segment_bytes, interleaved};
  bulk_kernel<<<static_cast<unsigned>(sm_count), kThreads, smem, stream>>>(m, s, sink);
  MLOPT_CUDA_CHECK_LAUNCH();
}

void launch_empty(int launches, int blocks, cudaStream_t stream) {
  for (int i = 0; i < launches; ++i) {
    empty_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>();
    MLOPT_CUDA_CHECK_LAUNCH();
  }
}

void launch_grid_barriers(int barriers, int sm_count, unsigned* counter, unsigned calls_before, cudaStream_t stream) {
  unsigned base = calls_before * static_cast<unsigned>(barriers) * static_cast<unsigned>(sm_count);
  void* args[] = {&barriers, &counter, &base};
  MLOPT_CUDA_CHECK(cudaLaunchCooperativeKernel(reinterpret_cast<const void*>(&grid_barrier_kernel),
                                               dim3(static_cast<unsigned>(sm_count)), dim3(kThreads), args, 0, stream));
}

}  // namespace mlopt::bench::stream
