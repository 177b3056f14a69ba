#pragma once
// The MLP's up projection on Hopper: a CUTLASS 3.x warp-specialised,
// persistent GEMM (TMA loads into a shared-memory stage ring, wgmma, a
// producer warp and two consumer warpgroups) with mlopt's own epilogue,
// which finishes the MLP's h in registers and stores it straight to global
// memory:
//
//   plain:  h[m, n]      = act(acc[m, n] + b[n])                      GEMM N = d_ff
//   gated:  h[m, n / 2]  = act(acc[m, n] + b[n]) * (acc[m, n+1] + b[n+1]), n even
//                          (interleaved packing: feature 2j = gate j, 2j+1 = up j)
//                                                                     GEMM N = 2 d_ff
//
// Pieces:
//   Sm90UpEpilogue   the epilogue collective (registers -> global, no shared
//                    memory), modelled on CUTLASS's DefaultEpilogue and
//                    plugged into the warp-specialised kernel through
//                    CUTLASS's Sm90TmaWarpSpecializedAdapter, as the
//                    builder does for its NoSmemWarpSpecialized schedule
//   Sm90UpGemm<T,L>  mainloop from the CollectiveBuilder + kernel + adapter
//   run_sm90_up_typed  arguments, checks, launch
//
// The tile, cluster and schedule are one of Sm90GemmConfig's (mlp_sm90.h),
// Sm90ConfigTraits below; each (dtype, config) is instantiated in its own
// mlp_sm90_<dtype>_<config>.cu. The first one: tile 128 x 256 x 64,
// cooperative (both consumer warpgroups on one tile, 64 x 256 each),
// cluster 2 x 1: the two CTAs of a cluster work on neighbouring token tiles
// of the same weight tile, so each 256-feature weight tile is fetched once
// from L2 and multicast to both. The persistent tile scheduler launches one
// CTA per SM and walks the tiles; while the consumers run this epilogue,
// the producer warp is already loading the next tile's first stages.
//
// Residues: TMA zero-fills loads past M, N and K (so partial tiles compute
// zeros there), and the epilogue predicates every store on (m < M, n < N).
//
// Compiled for sm_90a only (wgmma, TMA, setmaxnreg), in the
// mlopt_kernels_sm90 object library.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/epilogue/collective/detail.hpp"
#include "cutlass/epilogue/dispatch_policy.hpp"
#include "cutlass/gemm/collective/collective_builder.hpp"
#include "cutlass/gemm/device/gemm_universal_adapter.h"
#include "cutlass/gemm/dispatch_policy.hpp"
#include "cutlass/gemm/kernel/gemm_universal.hpp"
#include "cutlass/gemm/kernel/tile_scheduler.hpp"
#include "cutlass/kernel_hardware_info.h"
#include "mlopt/kernels/cuda_check.h"
#include "mlp_activation.cuh"
#include "mlp_sm90.h"

namespace mlopt::kernels::mlp_detail::sm90 {

// The CUDA type mlp_activation.cuh works in, for each CUTLASS element type.
template <typename CutlassElement>
struct NativeOf;
template <>
struct NativeOf<cutlass::half_t> {
  using type = __half;
  using pair = __half2;
};
template <>
struct NativeOf<cutlass::bfloat16_t> {
  using type = __nv_bfloat16;
  using pair = __nv_bfloat162;
};

// The epilogue collective. The kernel hands it one output tile's fp32
// accumulators in the wgmma fragment layout; each thread finishes the
// elements it holds, the 4 lanes of each quad swap them (warp shuffles, no
// shared memory) so that each lane holds 8 consecutive GEMM columns of one
// row, and each lane stores those with one 16-byte (plain) or 8-byte
// (gated) store. Every lane takes part in the shuffles; only the stores
// are predicated, so a lane whose elements lie past the ends stores nothing.
template <typename Element>
class Sm90UpEpilogue {
 public:
  using Native = typename NativeOf<Element>::type;
  using NativePair = typename NativeOf<Element>::pair;

  // What CUTLASS's kernel and device adapter read from an epilogue.
  using EpilogueSchedule = cutlass::epilogue::NoSmemWarpSpecialized;
  using DispatchPolicy = EpilogueSchedule;
  using ThreadEpilogueOp = void;  // the element math is below, not a thread functor
  using ElementOutput = Element;
  using ElementAccumulator = float;
  using ElementCompute = float;
  using ElementScalar = float;
  using ElementC = void;  // no source operand
  using ElementD = Element;
  using StrideC = cute::Stride<int64_t, cute::Int<1>, int64_t>;  // unused (no C), shaped like D
  using StrideD = cute::Stride<int64_t, cute::Int<1>, int64_t>;  // h rows: [M, N, L]
  using GmemTiledCopyC = void;
  using GmemTiledCopyD = void;

  struct SharedStorage {};
  using TensorStorage = SharedStorage;

  struct Arguments {
    void* h = nullptr;             // [M, ld_h] (Native)
    int64_t ld_h = 0;              // h's row stride: d_ff
    const void* bias = nullptr;    // [N] (Native), packed like the GEMM's columns, or null
    Activation activation = Activation::kNone;
    bool gated = false;            // N = 2 ld_h, columns interleaved gate/up
  };
  using Params = Arguments;

  template <class ProblemShape>
  static constexpr Params to_underlying_arguments(ProblemShape const&, Arguments const& args, void*) {
    return args;
  }
  template <class ProblemShape>
  static size_t get_workspace_size(ProblemShape const&, Arguments const&) {
    return 0;
  }
  template <class ProblemShape>
  static cutlass::Status initialize_workspace(ProblemShape const&, Arguments const&, void*, cudaStream_t,
                                              cutlass::CudaHostAdapter* = nullptr) {
    return cutlass::Status::kSuccess;
  }
  // h holds N (plain) or N / 2 (gated) columns of each row. Each thread
  // stores one 8-column accumulator block at a time: 16 bytes of h (plain)
  // or 8 bytes (gated), at a column that is a multiple of 8 (plain) or 4
  // (gated); so rows must start 16-byte aligned (ld_h a multiple of 8:
  // d_ff is, validate() checks) and N must be a multiple of 8 (a block is
  // either wholly inside or wholly past the end).
  template <class ProblemShape>
  static bool can_implement(ProblemShape const& problem_shape, Arguments const& args) {
    const auto n = cute::get<1>(problem_shape);
    const int64_t columns = args.gated ? int64_t{n} / 2 : int64_t{n};
    return args.h != nullptr && n % 8 == 0 && args.ld_h % 8 == 0 && columns == args.ld_h;
  }

  CUTLASS_HOST_DEVICE explicit Sm90UpEpilogue(Params const& params, SharedStorage const& = SharedStorage())
      : params_(params) {}

  CUTLASS_DEVICE bool is_source_needed() { return false; }

  template <class ProblemShapeMNKL, class BlockShapeMNK, class BlockCoordMNKL, class FrgEngine, class FrgLayout,
            class TiledMma, class ResidueMNK>
  CUTLASS_DEVICE void operator()(ProblemShapeMNKL problem_shape_mnkl, BlockShapeMNK blk_shape_mnk,
                                 BlockCoordMNKL blk_coord_mnkl, cute::Tensor<FrgEngine, FrgLayout> const& accumulators,
                                 TiledMma tiled_mma, ResidueMNK, int thread_idx, char*) {
    using namespace cute;
    static_assert(rank(ProblemShapeMNKL{}) == 4 && rank(BlockShapeMNK{}) == 3 && rank(BlockCoordMNKL{}) == 4);
    static_assert(is_static<BlockShapeMNK>::value && is_static<FrgLayout>::value);

    const int m_size = static_cast<int>(get<0>(problem_shape_mnkl));
    const int n_size = static_cast<int>(get<1>(problem_shape_mnkl));
    const auto m_tile = get<0>(blk_coord_mnkl);
    const auto n_tile = get<1>(blk_coord_mnkl);
    auto thr_mma = tiled_mma.get_thread_slice(thread_idx);

    // Which (row, column) of the GEMM's output each accumulator element is:
    // the accumulator tile partitioned like the accumulators themselves.
    Tensor c_tile = local_tile(make_identity_tensor(make_shape(m_size, n_size)), take<0, 2>(blk_shape_mnk),
                               make_coord(m_tile, n_tile));  // (BLK_M, BLK_N) -> (m, n)
    Tensor tc = thr_mma.partition_C(c_tile);                   // (VEC, MMA_M, MMA_N) -> (m, n)
    static_assert(decltype(size(tc))::value == decltype(size(accumulators))::value,
                  "one coordinate per accumulator");

    // The layout this epilogue relies on, checked rather than assumed.
    // (1) In a thread's fragment ((2, 2, NJ), MMA_M, MMA_N): mode (0,0) is
    //     two adjacent columns of one row (a pair), mode (0,2) steps 8
    //     columns (wgmma's accumulator: columns 8j + 2 (lane % 4) + {0, 1}).
    //     The same partition of a static identity tile has static strides.
    using StaticPartition =
        decltype(thr_mma.partition_C(make_identity_tensor(take<0, 2>(BlockShapeMNK{}))));
    using PartitionLayout = typename StaticPartition::layout_type;
    using Shape0 = decltype(get<0>(shape(PartitionLayout{})));
    using Stride0 = decltype(get<0>(stride(PartitionLayout{})));
    static_assert(rank(Shape0{}) == 3, "the fragment's first mode is (pair, row half, column block)");
    static_assert(decltype(get<0>(Shape0{}))::value == 2, "accumulator pairs");
    static_assert(cute::is_same_v<cute::remove_cvref_t<decltype(get<0>(Stride0{}))>, cute::E<1>>,
                  "a pair is two adjacent columns of one row");
    static_assert(decltype(get<2>(Shape0{}))::value % 4 == 0, "column blocks come in fours");
    static_assert(cute::is_same_v<cute::remove_cvref_t<decltype(get<2>(Stride0{}))>,
                                  cute::remove_cvref_t<decltype(cute::Int<8>{} * cute::E<1>{})>>,
                  "column blocks are 8 columns apart");
    static_assert(cute::is_same_v<decltype(shape(PartitionLayout{})), decltype(shape(FrgLayout{}))>,
                  "the accumulators are partitioned like the coordinates");
    // (2) Across threads: lanes 4r..4r+3 hold the same row, their pairs 2
    //     columns apart (lane % 4 = the pair's place in its 8-column block),
    //     so the 4 lanes of a quad hold one row's whole block and can swap
    //     elements with __shfl_xor by 1..3. The tiled MMA's (thread, value)
    //     -> (m + TileM n) layout says where thread t's value 0 lies.
    using TV = decltype(TiledMma{}.get_layoutC_TV());
    constexpr int kTileMmaM = decltype(cute::tile_size<0>(TiledMma{}))::value;
    constexpr int kT0 = TV{}(0, 0), kT1 = TV{}(1, 0), kT2 = TV{}(2, 0), kT3 = TV{}(3, 0), kT4 = TV{}(4, 0);
    static_assert(kT1 - kT0 == 2 * kTileMmaM && kT2 - kT0 == 4 * kTileMmaM && kT3 - kT0 == 6 * kTileMmaM,
                  "lanes 0..3 hold pairs 2 columns apart in one row");
    static_assert(kT4 - kT0 == 1, "lane 4 starts the next row");

    switch (params_.activation) {
      case Activation::kNone: return finish<Activation::kNone>(accumulators, tc, m_size, n_size);
      case Activation::kRelu: return finish<Activation::kRelu>(accumulators, tc, m_size, n_size);
      case Activation::kGeluErf: return finish<Activation::kGeluErf>(accumulators, tc, m_size, n_size);
      case Activation::kGeluTanh: return finish<Activation::kGeluTanh>(accumulators, tc, m_size, n_size);
      case Activation::kSilu: return finish<Activation::kSilu>(accumulators, tc, m_size, n_size);
    }
  }

 private:
  // v[k] for a k known only at run time, by selects (no local memory).
  template <typename V>
  CUTLASS_DEVICE static V pick(const V (&v)[4], int k) {
    return k == 0 ? v[0] : k == 1 ? v[1] : k == 2 ? v[2] : v[3];
  }

  // The 4 lanes of a quad hold V[s][t] (lane t, s = 0..3) and leave with
  // V[t][u] (u = 0..3): a 4 x 4 transpose through __shfl_xor. Lane t needs
  // V[t][u] from lane u = t ^ r, which sends its V[t][u] = its v[t] =
  // v[u ^ r]. Every lane of the warp must call it (full mask).
  template <typename V>
  CUTLASS_DEVICE static void quad_transpose(V (&v)[4], int t) {
    V w[4];
    CUTLASS_PRAGMA_UNROLL
    for (int u = 0; u < 4; ++u) w[u] = v[u];  // w[t] = v[t] stays; the rest is overwritten below
    CUTLASS_PRAGMA_UNROLL
    for (int r = 1; r < 4; ++r) {
      const V got = __shfl_xor_sync(0xffffffffu, pick(v, t ^ r), r);
      CUTLASS_PRAGMA_UNROLL
      for (int u = 0; u < 4; ++u) w[u] = u == (t ^ r) ? got : w[u];
    }
    CUTLASS_PRAGMA_UNROLL
    for (int u = 0; u < 4; ++u) v[u] = w[u];
  }

  CUTLASS_DEVICE static uint32_t bits(NativePair p) { return *reinterpret_cast<uint32_t*>(&p); }

  // Per (row half, MMA_M, MMA_N) and four 8-column blocks j0..j0+3 of one
  // row: each lane of the quad finishes its pair in each block (plain: a
  // packed pair of outputs; gated: one output, gate*up), the quad
  // transposes so that lane t holds all of block j0 + t, and each lane
  // stores its block with one 16-byte (plain) or 8-byte (gated) store.
  // Blocks (8 columns, N a multiple of 8) lie wholly inside or past N.
  template <Activation kAct, class Acc, class Coords>
  CUTLASS_DEVICE void finish(Acc const& acc, Coords const& tc, int m_size, int n_size) const {
    using namespace cute;
    auto* h = static_cast<Native*>(params_.h);
    const auto* bias = static_cast<const NativePair*>(params_.bias);  // pairs: n is even, bias 16-byte aligned
    const int64_t ld = params_.ld_h;
    constexpr int kRowHalves = decltype(size<0, 1>(std::declval<Acc const&>()))::value;
    constexpr int kBlocks = decltype(size<0, 2>(std::declval<Acc const&>()))::value;
    constexpr int kMmaM = decltype(size<1>(std::declval<Acc const&>()))::value;
    constexpr int kMmaN = decltype(size<2>(std::declval<Acc const&>()))::value;
    // This lane's place in its quad, from its first element's column.
    const int t = (get<1>(tc(0)) & 7) >> 1;

    CUTLASS_PRAGMA_UNROLL
    for (int mn = 0; mn < kMmaN; ++mn) {
      CUTLASS_PRAGMA_UNROLL
      for (int mm = 0; mm < kMmaM; ++mm) {
        CUTLASS_PRAGMA_UNROLL
        for (int rh = 0; rh < kRowHalves; ++rh) {
          CUTLASS_PRAGMA_UNROLL
          for (int j0 = 0; j0 < kBlocks; j0 += 4) {
            const auto first = make_coord(make_coord(0, rh, j0), mm, mn);
            const int m = get<0>(tc(first));
            // The start column of block j0 + t (blocks are 8 apart).
            const int n_block = (get<1>(tc(first)) & ~7) + 8 * t;
            if (params_.gated) {
              float v[4];
              CUTLASS_PRAGMA_UNROLL
              for (int s = 0; s < 4; ++s) {
                const auto e0 = make_coord(make_coord(0, rh, j0 + s), mm, mn);
                const auto e1 = make_coord(make_coord(1, rh, j0 + s), mm, mn);
                const int n = get<1>(tc(e0));  // even: the gate; n + 1 is its up
                float gate = acc(e0), up = acc(e1);
                if (bias != nullptr && n < n_size) {
                  const float2 b = Convert<Native>::to_float2(bias[n / 2]);
                  gate += b.x;
                  up += b.y;
                }
                v[s] = activate(gate, kAct) * up;
              }
              quad_transpose(v, t);
              if (m < m_size && n_block < n_size) {
                // Outputs n_block / 2 .. + 3: 8 bytes, 8-byte aligned (n_block % 8 == 0, ld % 8 == 0).
                const uint2 out = make_uint2(bits(Convert<Native>::pair(v[0], v[1])),
                                             bits(Convert<Native>::pair(v[2], v[3])));
                *reinterpret_cast<uint2*>(h + int64_t{m} * ld + n_block / 2) = out;
              }
            } else {
              uint32_t v[4];
              CUTLASS_PRAGMA_UNROLL
              for (int s = 0; s < 4; ++s) {
                const auto e0 = make_coord(make_coord(0, rh, j0 + s), mm, mn);
                const auto e1 = make_coord(make_coord(1, rh, j0 + s), mm, mn);
                const int n = get<1>(tc(e0));
                float v0 = acc(e0), v1 = acc(e1);
                if (bias != nullptr && n < n_size) {
                  const float2 b = Convert<Native>::to_float2(bias[n / 2]);
                  v0 += b.x;
                  v1 += b.y;
                }
                v[s] = bits(Convert<Native>::pair(activate(v0, kAct), activate(v1, kAct)));
              }
              quad_transpose(v, t);
              if (m < m_size && n_block < n_size) {
                // Columns n_block .. + 7: 16 bytes, 16-byte aligned (n_block % 8 == 0, ld % 8 == 0).
                *reinterpret_cast<uint4*>(h + int64_t{m} * ld + n_block) = make_uint4(v[0], v[1], v[2], v[3]);
              }
            }
          }
        }
      }
    }
  }

  Params params_;
};

// The tile (M x N x K), cluster (M x N) and kernel schedule of each
// Sm90GemmConfig (mlp_sm90.h says what they mean).
template <Sm90GemmConfig kConfig>
struct Sm90ConfigTraits;
template <>
struct Sm90ConfigTraits<Sm90GemmConfig::kCoop128x256C2x1> {
  using TileShape = cute::Shape<cute::_128, cute::_256, cute::_64>;
  using ClusterShape = cute::Shape<cute::_2, cute::_1, cute::_1>;
  using Schedule = cutlass::gemm::KernelTmaWarpSpecializedCooperative;
};
template <>
struct Sm90ConfigTraits<Sm90GemmConfig::kCoop128x256C1x2> {
  using TileShape = cute::Shape<cute::_128, cute::_256, cute::_64>;
  using ClusterShape = cute::Shape<cute::_1, cute::_2, cute::_1>;
  using Schedule = cutlass::gemm::KernelTmaWarpSpecializedCooperative;
};
template <>
struct Sm90ConfigTraits<Sm90GemmConfig::kCoop128x256C1x1> {
  using TileShape = cute::Shape<cute::_128, cute::_256, cute::_64>;
  using ClusterShape = cute::Shape<cute::_1, cute::_1, cute::_1>;
  using Schedule = cutlass::gemm::KernelTmaWarpSpecializedCooperative;
};
template <>
struct Sm90ConfigTraits<Sm90GemmConfig::kCoop256x128C1x2> {
  using TileShape = cute::Shape<cute::_256, cute::_128, cute::_64>;
  using ClusterShape = cute::Shape<cute::_1, cute::_2, cute::_1>;
  using Schedule = cutlass::gemm::KernelTmaWarpSpecializedCooperative;
};
template <>
struct Sm90ConfigTraits<Sm90GemmConfig::kCoop256x128C2x1> {
  using TileShape = cute::Shape<cute::_256, cute::_128, cute::_64>;
  using ClusterShape = cute::Shape<cute::_2, cute::_1, cute::_1>;
  using Schedule = cutlass::gemm::KernelTmaWarpSpecializedCooperative;
};
template <>
struct Sm90ConfigTraits<Sm90GemmConfig::kPing128x128C2x1> {
  using TileShape = cute::Shape<cute::_128, cute::_128, cute::_64>;
  using ClusterShape = cute::Shape<cute::_2, cute::_1, cute::_1>;
  using Schedule = cutlass::gemm::KernelTmaWarpSpecializedPingpong;
};
template <>
struct Sm90ConfigTraits<Sm90GemmConfig::kPing128x128C1x1> {
  using TileShape = cute::Shape<cute::_128, cute::_128, cute::_64>;
  using ClusterShape = cute::Shape<cute::_1, cute::_1, cute::_1>;
  using Schedule = cutlass::gemm::KernelTmaWarpSpecializedPingpong;
};
template <>
struct Sm90ConfigTraits<Sm90GemmConfig::kPing64x256C1x1> {
  using TileShape = cute::Shape<cute::_64, cute::_256, cute::_64>;
  using ClusterShape = cute::Shape<cute::_1, cute::_1, cute::_1>;
  using Schedule = cutlass::gemm::KernelTmaWarpSpecializedPingpong;
};

// The GEMM type for one dtype and weight layout. A = x [M, K] row-major
// (K-major). B = the weight as CUTLASS's [N, K] operand: nn.Linear's
// [out, in] is K-major (ColumnMajor tag), Conv1D's [in, out] N-major
// (RowMajor tag).
template <typename Element, WeightLayout kLayout, Sm90GemmConfig kConfig>
struct Sm90UpGemm {
  using LayoutA = cutlass::layout::RowMajor;
  using LayoutB =
      std::conditional_t<kLayout == WeightLayout::kOutIn, cutlass::layout::ColumnMajor, cutlass::layout::RowMajor>;
  static constexpr int kAlignment = 8;  // elements per 16 bytes: TMA's granule
  using TileShape = typename Sm90ConfigTraits<kConfig>::TileShape;
  using ClusterShape = typename Sm90ConfigTraits<kConfig>::ClusterShape;

  using Epilogue = cutlass::epilogue::collective::detail::Sm90TmaWarpSpecializedAdapter<Sm90UpEpilogue<Element>>;
  using Mainloop = typename cutlass::gemm::collective::CollectiveBuilder<
      cutlass::arch::Sm90, cutlass::arch::OpClassTensorOp, Element, LayoutA, kAlignment, Element, LayoutB, kAlignment,
      float, TileShape, ClusterShape,
      cutlass::gemm::collective::StageCountAutoCarveout<static_cast<int>(sizeof(typename Epilogue::SharedStorage))>,
      typename Sm90ConfigTraits<kConfig>::Schedule>::CollectiveOp;
  using Kernel = cutlass::gemm::kernel::GemmUniversal<cute::Shape<int, int, int, int>, Mainloop, Epilogue,
                                                      cutlass::gemm::PersistentScheduler>;
  using Gemm = cutlass::gemm::device::GemmUniversalAdapter<Kernel>;

  static typename Gemm::Arguments arguments(const Sm90UpArgs& a, int sm_count) {
    const int n = a.gated ? 2 * a.n_out : a.n_out;
    const int64_t m64 = a.m, n64 = n, k64 = a.k;
    typename Gemm::Arguments args;
    args.mode = cutlass::gemm::GemmUniversalMode::kGemm;
    args.problem_shape = cute::make_shape(a.m, n, a.k, 1);
    args.mainloop.ptr_A = static_cast<const Element*>(a.x);
    args.mainloop.dA = cute::make_stride(k64, cute::Int<1>{}, m64 * k64);
    args.mainloop.ptr_B = static_cast<const Element*>(a.w);
    if constexpr (kLayout == WeightLayout::kOutIn) {
      args.mainloop.dB = cute::make_stride(k64, cute::Int<1>{}, n64 * k64);  // w[n][k] at n K + k
    } else {
      args.mainloop.dB = cute::make_stride(cute::Int<1>{}, n64, n64 * k64);  // w[k][n] at k N + n
    }
    args.epilogue.h = a.h;
    args.epilogue.ld_h = a.n_out;
    args.epilogue.bias = a.bias;
    args.epilogue.activation = a.activation;
    args.epilogue.gated = a.gated;
    args.hw_info.sm_count = sm_count;
    args.scheduler.max_swizzle_size = swizzle_for(a.m, n);
    return args;
  }

  // The tile scheduler's band width. Unswizzled, one wave of 132 CTAs on
  // Llama-7B at 16k tokens spans all 86 weight tiles (172 MiB of W), so
  // every W tile is re-read from DRAM for each pair of token tiles; walking
  // the tiles in bands of 8, a wave touches about 16 token tiles and 8
  // weight tiles (~32 MiB), which the 50 MiB L2 keeps for the next wave.
  // But CUTLASS rounds the tile grid up to whole bands (token tiles to
  // multiples of band x cluster, weight tiles to multiples of band) and
  // runs the padding tiles (zero-filled loads, no stores): so take the
  // widest band that adds at most 3% of tiles, else none. (The numbers are
  // for the first config; the rounding is CUTLASS's for any cluster.)
  static int swizzle_for(int m, int n) {
    constexpr int64_t kTileM = cute::size<0>(TileShape{}), kTileN = cute::size<1>(TileShape{});
    constexpr int64_t kClusterM = cute::size<0>(ClusterShape{}), kClusterN = cute::size<1>(ClusterShape{});
    const auto round_up = [](int64_t v, int64_t to) { return (v + to - 1) / to * to; };
    const int64_t m_tiles = (m + kTileM - 1) / kTileM, n_tiles = (n + kTileN - 1) / kTileN;
    const int64_t unbanded = round_up(m_tiles, kClusterM) * round_up(n_tiles, kClusterN);
    for (int band : {8, 4, 2}) {
      if (round_up(m_tiles, band * kClusterM) * round_up(n_tiles, band * kClusterN) * 100 <= unbanded * 103) {
        return band;
      }
    }
    return 1;
  }
};

inline int current_sm_count() {
  int device = 0, count = 0;
  MLOPT_CUDA_CHECK(cudaGetDevice(&device));
  MLOPT_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
  return count;
}

template <typename Element, WeightLayout kLayout, Sm90GemmConfig kConfig>
std::size_t workspace_typed(const Sm90UpArgs& a) {
  using G = Sm90UpGemm<Element, kLayout, kConfig>;
  return G::Gemm::get_workspace_size(G::arguments(a, current_sm_count()));
}

template <typename Element, WeightLayout kLayout, Sm90GemmConfig kConfig>
void run_typed(const Sm90UpArgs& a, void* workspace, std::size_t workspace_bytes, cudaStream_t stream) {
  using G = Sm90UpGemm<Element, kLayout, kConfig>;
  const auto args = G::arguments(a, current_sm_count());
  if (G::Gemm::can_implement(args) != cutlass::Status::kSuccess) {
    throw std::invalid_argument("mlp: the Hopper up projection (" + std::string(to_string(kConfig)) +
                                ") cannot run m=" + std::to_string(a.m) + " n=" + std::to_string(a.n_out) +
                                " k=" + std::to_string(a.k) + " (CUTLASS can_implement refused: sizes or alignment)");
  }
  const std::size_t needed = G::Gemm::get_workspace_size(args);
  if (needed > workspace_bytes || (needed > 0 && workspace == nullptr)) {
    throw std::invalid_argument("mlp: the Hopper up projection needs " + std::to_string(needed) +
                                " bytes of workspace, got " + std::to_string(workspace_bytes));
  }
  typename G::Gemm gemm;
  // initialize() also raises the kernel's dynamic shared-memory limit (about
  // 200 KiB of stages); cheap next to the GEMM, and per device as it must be.
  cutlass::Status status = gemm.initialize(args, workspace, stream);
  if (status != cutlass::Status::kSuccess) {
    throw std::runtime_error(std::string("mlp: the Hopper up projection failed to initialise: ") +
                             cutlassGetStatusString(status));
  }
  status = gemm.run(stream);
  if (status != cutlass::Status::kSuccess) {
    // run() has read (and cleared) the launch error already.
    throw std::runtime_error(std::string("mlp: the Hopper up projection failed to launch: ") +
                             cutlassGetStatusString(status));
  }
}

// Both weight layouts of one (dtype, config): what a mlp_sm90_<dtype>_<config>.cu returns.
template <typename Element, Sm90GemmConfig kConfig>
Sm90Entry entry() {
  Sm90Entry e;
  e.workspace = [](const Sm90UpArgs& a) {
    return a.layout == WeightLayout::kOutIn ? workspace_typed<Element, WeightLayout::kOutIn, kConfig>(a)
                                            : workspace_typed<Element, WeightLayout::kInOut, kConfig>(a);
  };
  e.run = [](const Sm90UpArgs& a, void* workspace, std::size_t workspace_bytes, cudaStream_t stream) {
    if (a.config != kConfig) {
      throw std::logic_error("mlp: the Hopper up projection was dispatched to the wrong configuration");
    }
    a.layout == WeightLayout::kOutIn
        ? run_typed<Element, WeightLayout::kOutIn, kConfig>(a, workspace, workspace_bytes, stream)
        : run_typed<Element, WeightLayout::kInOut, kConfig>(a, workspace, workspace_bytes, stream);
  };
  return e;
}

}  // namespace mlopt::kernels::mlp_detail::sm90
