#include "mlopt/parallel/ring_attention_cuda.h"

#include <cuda_runtime.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "mlopt/kernels/attention.h"
#include "mlopt/kernels/attention_merge.h"
#include "mlopt/kernels/cuda_check.h"

namespace mlopt::parallel {
namespace {

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument("ring attention (GPU): " + what); }

constexpr std::size_t kElementBytes = 2;  // fp16 / bf16
constexpr std::size_t kAlign = 256;       // every workspace piece: TMA and vector loads need 16

std::size_t align_up(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// What the kernels can do, checked before any communication (every rank
// passes the same shape, so all ranks throw together); the split.
SequenceSplit checked_split(const RingAttentionShape& s, int world) {
  if (s.batch <= 0 || s.q_heads <= 0 || s.kv_heads <= 0) {
    fail("batch, q_heads and kv_heads must be positive, got " + std::to_string(s.batch) + ", " +
         std::to_string(s.q_heads) + ", " + std::to_string(s.kv_heads));
  }
  if (s.q_heads % s.kv_heads != 0) {
    fail("kv_heads (" + std::to_string(s.kv_heads) + ") must divide q_heads (" + std::to_string(s.q_heads) + ")");
  }
  if (!kernels::attention_head_dim_supported(s.head_dim)) {
    fail("head_dim " + std::to_string(s.head_dim) + " is not supported by mlopt's attention kernel (64 or 128)");
  }
  if (s.dtype != kernels::AttentionDType::kFloat16 && s.dtype != kernels::AttentionDType::kBFloat16) {
    fail("dtype must be fp16 or bf16");
  }
  if (!std::isfinite(s.softmax_scale)) fail("softmax_scale must be finite");
  const SequenceSplit split = split_sequence(s.seq_len, world, s.causal);
  if (split.chunk_len > INT_MAX) {
    fail("a chunk of " + std::to_string(split.chunk_len) + " tokens exceeds the kernel's int lengths; use more ranks");
  }
  return split;
}

// Byte offsets of the workspace's pieces.
struct Layout {
  std::size_t kv_block_bytes = 0;  // K (or V) of one local block
  std::size_t kv[2] = {0, 0};      // the two K/V buffers, K then V in each (world > 1)
  std::size_t part_out = 0;        // one pair's output: [batch, q_heads, chunk_len, head_dim], dtype
  std::size_t part_lse = 0;        // its lse: [batch, q_heads, chunk_len] fp32
  std::size_t acc_out = 0;         // the local rows' accumulator: [batch, q_heads, local_len, head_dim] fp32
  std::size_t acc_lse = 0;         // [batch, q_heads, local_len] fp32
  std::size_t total = 0;
};

Layout layout_of(const RingAttentionShape& s, const SequenceSplit& split) {
  const auto B = static_cast<std::size_t>(s.batch), Hq = static_cast<std::size_t>(s.q_heads),
             Hkv = static_cast<std::size_t>(s.kv_heads), D = static_cast<std::size_t>(s.head_dim),
             C = static_cast<std::size_t>(split.chunk_len), L = static_cast<std::size_t>(split.local_len());
  Layout l;
  l.kv_block_bytes = B * Hkv * L * D * kElementBytes;
  std::size_t at = 0;
  const auto take = [&at](std::size_t bytes) {
    const std::size_t offset = at;
    at += align_up(bytes);
    return offset;
  };
  if (split.world > 1) {
    // K and V adjacent, so that one ring exchange moves both.
    l.kv[0] = take(2 * l.kv_block_bytes);
    l.kv[1] = take(2 * l.kv_block_bytes);
  }
  l.part_out = take(B * Hq * C * D * kElementBytes);
  l.part_lse = take(B * Hq * C * sizeof(float));
  l.acc_out = take(B * Hq * L * D * sizeof(float));
  l.acc_lse = take(B * Hq * L * sizeof(float));
  l.total = at;
  return l;
}

// A second stream for the exchanges. Blocking (not cudaStreamNonBlocking) on
// purpose: the thread backend's device exchange copies with cudaMemcpy on
// the legacy default stream, which may return before the copy lands (device
// to device); a blocking stream's later work, the `arrived` event below,
// is ordered after that legacy-stream copy.
class ExchangeStream {
 public:
  ExchangeStream() { MLOPT_CUDA_CHECK(cudaStreamCreate(&stream_)); }
  ~ExchangeStream() { cudaStreamDestroy(stream_); }  // pending work still completes; never throws
  ExchangeStream(const ExchangeStream&) = delete;
  ExchangeStream& operator=(const ExchangeStream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

// An event for ordering only (no timing: cheaper to record and wait on).
class OrderEvent {
 public:
  OrderEvent() { MLOPT_CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming)); }
  ~OrderEvent() { cudaEventDestroy(event_); }
  OrderEvent(const OrderEvent&) = delete;
  OrderEvent& operator=(const OrderEvent&) = delete;
  // `waiter` runs its later work only after `producer`'s work so far.
  void order(cudaStream_t producer, cudaStream_t waiter) {
    MLOPT_CUDA_CHECK(cudaEventRecord(event_, producer));
    MLOPT_CUDA_CHECK(cudaStreamWaitEvent(waiter, event_, 0));
  }
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

// The caller's workspace, or one allocated on the compute stream and freed
// there (stream-ordered: after everything this call enqueued on it).
class Scratch {
 public:
  Scratch(void* given, std::size_t given_bytes, std::size_t need, cudaStream_t stream) : stream_(stream) {
    if (given != nullptr) {
      if (given_bytes < need) {
        fail("the workspace has " + std::to_string(given_bytes) + " bytes; ring_attention_cuda_workspace_bytes asks for " +
             std::to_string(need));
      }
      if (reinterpret_cast<std::uintptr_t>(given) % kAlign != 0) fail("the workspace must be 256-byte aligned");
      ptr_ = given;
      return;
    }
    MLOPT_CUDA_CHECK(cudaMallocAsync(&ptr_, need, stream));
    owned_ = true;
  }
  ~Scratch() {
    if (owned_) cudaFreeAsync(ptr_, stream_);  // never throws; a failure here leaks, nothing worse
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  char* at(std::size_t offset) const { return static_cast<char*>(ptr_) + offset; }

 private:
  cudaStream_t stream_;
  void* ptr_ = nullptr;
  bool owned_ = false;
};

// Makes the compute stream wait for everything enqueued on the exchange
// stream, also when an exception leaves the loop early: the workspace is
// freed (or handed back to the caller) in compute-stream order, so no
// exchange may still be reading or writing it then.
class JoinOnExit {
 public:
  JoinOnExit(cudaStream_t compute, cudaStream_t exchange, cudaEvent_t event)
      : compute_(compute), exchange_(exchange), event_(event) {}
  ~JoinOnExit() {
    if (cudaEventRecord(event_, exchange_) == cudaSuccess) cudaStreamWaitEvent(compute_, event_, 0);
  }
  JoinOnExit(const JoinOnExit&) = delete;
  JoinOnExit& operator=(const JoinOnExit&) = delete;

 private:
  cudaStream_t compute_, exchange_;
  cudaEvent_t event_;
};

enum class Visibility { kAll, kDiagonal, kNone };

// Which keys of global chunk `key` the queries of global chunk `query` see
// (as ring_attention_cpu decides it).
Visibility visibility(int query, int key, bool causal) {
  if (!causal || key < query) return Visibility::kAll;
  return key == query ? Visibility::kDiagonal : Visibility::kNone;
}

// One attention call: local query chunk `a` against key chunk `b` of the
// block held at `step`.
struct Pair {
  int step;
  int a;
  int b;
  bool diagonal;
};

}  // namespace

RingCommunicationModel ring_attention_communication(const RingAttentionShape& shape, int world) {
  const SequenceSplit split = split_sequence(shape.seq_len, world, shape.causal);
  RingCommunicationModel m;
  m.steps = world - 1;
  m.bytes_per_step = 2 * static_cast<std::size_t>(shape.batch) * static_cast<std::size_t>(shape.kv_heads) *
                     static_cast<std::size_t>(split.local_len()) * static_cast<std::size_t>(shape.head_dim) *
                     kElementBytes;
  m.bytes_sent_per_rank = static_cast<std::size_t>(m.steps) * m.bytes_per_step;
  return m;
}

std::size_t ring_attention_cuda_workspace_bytes(const RingAttentionShape& shape, int world) {
  return layout_of(shape, checked_split(shape, world)).total;
}

void ring_attention_cuda(Communicator& comm, const RingAttentionShape& s, const void* q, const void* k,
                         const void* v, void* out, cudaStream_t stream, void* workspace, std::size_t workspace_bytes) {
  if (comm.space() != BufferSpace::kDevice) {
    fail("the communicator's buffers must be device memory (BufferSpace::kDevice); ring_attention_cpu takes host ones");
  }
  const int world = comm.size();
  const int rank = comm.rank();
  const SequenceSplit split = checked_split(s, world);
  if (q == nullptr || k == nullptr || v == nullptr || out == nullptr) fail("q, k, v and out must not be null");
  const Layout lay = layout_of(s, split);
  const int64_t C = split.chunk_len, L = split.local_len(), D = s.head_dim;
  const std::vector<int> mine = split.chunks_of(rank);
  const int local_chunks = static_cast<int>(mine.size());

  // The visible pairs in the order they run; each query chunk's first one
  // starts its accumulator and its last one writes `out`.
  std::vector<Pair> pairs;
  for (int step = 0; step < world; ++step) {
    const std::vector<int> theirs = split.chunks_of((rank - step + world) % world);
    for (int a = 0; a < local_chunks; ++a) {
      for (int b = 0; b < static_cast<int>(theirs.size()); ++b) {
        const Visibility seen = visibility(mine[a], theirs[b], s.causal);
        if (seen != Visibility::kNone) pairs.push_back({step, a, b, seen == Visibility::kDiagonal});
      }
    }
  }
  std::vector<int> first_of(local_chunks, -1), last_of(local_chunks, -1);
  for (int i = 0; i < static_cast<int>(pairs.size()); ++i) {
    if (first_of[pairs[i].a] < 0) first_of[pairs[i].a] = i;
    last_of[pairs[i].a] = i;
  }
  for (int a = 0; a < local_chunks; ++a) {
    // Step 0 holds the rank's own chunks, so every chunk meets at least its
    // own diagonal (causal) or everything (not).
    if (first_of[a] < 0) throw std::logic_error("ring attention (GPU): a local chunk sees no key chunk");
  }

  // Element strides of the local tensors and of one pair's partial result.
  const kernels::TensorStrides q_strides{int64_t{s.q_heads} * L * D, L * D, D, 1};
  const kernels::TensorStrides kv_strides{int64_t{s.kv_heads} * L * D, L * D, D, 1};
  const kernels::TensorStrides part_strides = kernels::bhsd_strides(s.q_heads, static_cast<int>(C), s.head_dim);
  const kernels::LseStrides acc_lse_strides{int64_t{s.q_heads} * L, L, 1};
  const auto chunk_bytes = static_cast<std::size_t>(C * D) * kElementBytes;  // one chunk's rows of one head

  // Declaration order is destruction order reversed: the join runs first,
  // then the workspace goes back to the pool on the compute stream.
  Scratch scratch(workspace, workspace_bytes, lay.total, stream);
  ExchangeStream exchange;
  OrderEvent ready, arrived, joined;
  JoinOnExit join(stream, exchange.get(), joined.get());

  auto* part_out = scratch.at(lay.part_out);
  auto* part_lse = reinterpret_cast<float*>(scratch.at(lay.part_lse));
  auto* acc_out = reinterpret_cast<float*>(scratch.at(lay.acc_out));
  auto* acc_lse = reinterpret_cast<float*>(scratch.at(lay.acc_lse));

  // The block held now; with other ranks, it lives in the K/V buffers (K then
  // V, so that one exchange moves both), starting with a copy of our own.
  const char* held_k = static_cast<const char*>(k);
  const char* held_v = static_cast<const char*>(v);
  if (world > 1) {
    char* first = scratch.at(lay.kv[0]);
    MLOPT_CUDA_CHECK(cudaMemcpyAsync(first, k, lay.kv_block_bytes, cudaMemcpyDeviceToDevice, stream));
    MLOPT_CUDA_CHECK(
        cudaMemcpyAsync(first + lay.kv_block_bytes, v, lay.kv_block_bytes, cudaMemcpyDeviceToDevice, stream));
  }

  std::size_t next_pair = 0;
  for (int step = 0; step < world; ++step) {
    char* held = scratch.at(lay.kv[step % 2]);
    char* incoming = scratch.at(lay.kv[(step + 1) % 2]);
    if (world > 1) {
      held_k = held;
      held_v = held + lay.kv_block_bytes;
    }
    const bool pass_on = step + 1 < world;
    // Before this step's compute: the exchange below may overwrite
    // `incoming` only after the previous step's reads of it (and, at step 0,
    // may send `held` only after the copy into it).
    if (pass_on) MLOPT_CUDA_CHECK(cudaEventRecord(ready.get(), stream));

    for (; next_pair < pairs.size() && pairs[next_pair].step == step; ++next_pair) {
      const Pair& pr = pairs[next_pair];
      const bool first = first_of[pr.a] == static_cast<int>(next_pair);
      const bool last = last_of[pr.a] == static_cast<int>(next_pair);
      char* out_chunk = static_cast<char*>(out) + static_cast<std::size_t>(pr.a) * chunk_bytes;

      kernels::AttentionParams p = block_attention_params(s, C, pr.diagonal);
      p.q = static_cast<const char*>(q) + static_cast<std::size_t>(pr.a) * chunk_bytes;
      p.k = held_k + static_cast<std::size_t>(pr.b) * chunk_bytes;
      p.v = held_v + static_cast<std::size_t>(pr.b) * chunk_bytes;
      p.q_strides = q_strides;
      p.k_strides = p.v_strides = kv_strides;
      if (first && last) {
        // The chunk's only block: its result is final, no merge needed.
        p.out = out_chunk;
        p.out_strides = q_strides;
        kernels::attention_forward(p, stream);
        continue;
      }
      p.out = part_out;
      p.out_strides = part_strides;
      p.lse = part_lse;
      // No workspace: chunks of <= 16 tokens take the decode path unsplit.
      kernels::attention_forward(p, stream);

      kernels::AttentionMergeParams m;
      m.part_out = part_out;
      m.part_lse = part_lse;
      m.part_strides = part_strides;
      m.part_lse_strides = kernels::lse_strides_contiguous(s.q_heads, static_cast<int>(C));
      m.acc_out = acc_out + pr.a * C * D;
      m.acc_strides = q_strides;  // fp32, but the same [batch, q_heads, local_len, head_dim] shape
      m.acc_lse = acc_lse + pr.a * C;
      m.acc_lse_strides = acc_lse_strides;
      m.out = last ? out_chunk : nullptr;
      m.out_strides = q_strides;
      m.batch = s.batch;
      m.heads = s.q_heads;
      m.rows = static_cast<int>(C);
      m.head_dim = s.head_dim;
      m.dtype = s.dtype;
      m.first = first;
      kernels::attention_merge(m, stream);
    }

    if (pass_on) {
      MLOPT_CUDA_CHECK(cudaStreamWaitEvent(exchange.get(), ready.get(), 0));
      comm.ring_exchange(held, incoming, 2 * lay.kv_block_bytes, exchange.get());
      // The next step computes on `incoming` once it has arrived.
      arrived.order(exchange.get(), stream);
    }
  }
}

}  // namespace mlopt::parallel
