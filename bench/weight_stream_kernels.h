#pragma once
// Read-only kernels for bench_weight_stream: each reads every byte of a
// row-major weight matrix once, in one access pattern, and folds what it
// read into a sink word so that the loads cannot be optimised away. They
// measure how fast an H100 streams a decode MLP's weights by pattern, the
// ceiling a decode kernel can hope for. CUDA runtime only.
#include <cuda_runtime_api.h>

#include <cstdint>

namespace mlopt::bench::stream {

struct Matrix {
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t row_bytes = 0;  // a multiple of 16
};

// Every thread loads `loads_in_flight` (4 or 8) 16-byte values before it
// uses any, a warp 512 consecutive bytes per load, grid-stride over the
// whole matrix as one array; `blocks_per_sm` blocks of 256 threads per SM.
void read_flat(const Matrix& m, int loads_in_flight, int blocks_per_sm, int sm_count, uint32_t* sink,
               cudaStream_t stream);

// mlopt's decode kernel's [out, in] loads (kernels/src/mlp_decode.cuh):
// a block of 8 warps per 16-row slab; each warp step reads 256 bytes of
// each of the 16 rows (lane (g, t): rows g and g + 8, bytes 64u + 16t),
// one step in flight per warp, steps dealt to the warps in turn; two
// blocks per SM.
void read_decode_rows(const Matrix& m, uint32_t* sink, cudaStream_t stream);

// Bulk copies (cp.async.bulk, the TMA's 1-d form) into a ring of `stages`
// shared-memory stages, each `rows` rows x `segment_bytes` of one column
// range; one persistent block of 8 warps per SM takes a contiguous run of
// (row slab, column range) items, or with `interleaved` every SM-count-th
// item (so the items in flight are neighbours in memory); its warps read
// each stage from shared memory before it is refilled. rows *
// segment_bytes * stages must fit the SM's shared memory. Needs compute
// capability 9.0.
void read_bulk(const Matrix& m, int rows, int segment_bytes, int stages, bool interleaved, int sm_count,
               uint32_t* sink, cudaStream_t stream);

// `launches` dependent launches of an empty kernel of `blocks` blocks of
// 256 threads: what a timed call costs before it reads anything (the
// floor under every pattern's time, and each extra kernel's share).
void launch_empty(int launches, int blocks, cudaStream_t stream);

// One cooperative launch of one block per SM that passes `barriers` grid-wide
// barriers (an arrival counter in `counter`, which persists between calls:
// `calls_before` is how many such barriers it has seen, all of `sm_count`
// blocks): the cost of the barrier a one-kernel MLP needs between its up and
// down projections, over launch_empty's floor.
void launch_grid_barriers(int barriers, int sm_count, unsigned* counter, unsigned calls_before, cudaStream_t stream);

// The data movement and synchronisation of a one-kernel MLP (GPT-2's
// Conv1D layout, fp16), with no arithmetic: the floor of that design. One
// cooperative launch, one block per SM:
//   1. each block copies (cp.async) its slice of w_up (d rows x tn1
//      features), its slice of w_down (f / splits rows x tn2 features) and
//      its tile of x (tm1 tokens) into shared memory, all at once;
//   2. stores its tile of h (tm1 x tn1; values made from what it loaded);
//   3. grid barrier; copies its slice of h (all m tokens x f / splits) in;
//   4. stores its fp32 partial sums (m x tn2) for its K split;
//   5. grid barrier; every block sums the splits of its share of the
//      output, adds the residual and stores it.
// Blocks = ceil(m / tm1) * (f / tn1) = (d / tn2) * splits (checked).
struct MlpSkeleton {
  const void* x = nullptr;       // [m, d] fp16
  const void* w_up = nullptr;    // [d, f]
  const void* w_down = nullptr;  // [f, d]
  void* h = nullptr;             // [m, f]
  float* partials = nullptr;     // [splits, m, d]
  const void* residual = nullptr;
  void* out = nullptr;  // [m, d]
  int m = 0, d = 0, f = 0, tm1 = 0, tn1 = 0, tn2 = 0, splits = 0;
};
void run_mlp_skeleton(const MlpSkeleton& p, cudaStream_t stream);

}  // namespace mlopt::bench::stream
