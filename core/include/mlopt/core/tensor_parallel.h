#pragma once
// Tensor parallelism (Megatron style) for a loaded model: attention heads
// and MLP features split across ranks, one all-reduce after each block, the
// rest replicated. Each rank gets its own rewritten copy of the frozen
// graph, verified together against the unsharded model before it is used.
//
//   auto tp = mlopt::shard_tensor_parallel(model, spec, {.world_size = 2});
//   std::cout << tp.plan.describe();            // what goes where, bytes, memory
//   parallel::ThreadGroup group(2);              // or NcclGroup({0, 1})
//   group.run([&](parallel::Communicator& c) { auto out = tp.forward(c, inputs); });
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mlopt/core/input_spec.h"
#include "mlopt/core/model.h"
#include "mlopt/core/runner.h"
#include "mlopt/core/transforms.h"
#include "mlopt/parallel/communicator.h"

namespace c10 {
class IValue;
}

namespace mlopt {

inline constexpr const char* kTensorParallelTransform = "tensor_parallel";
inline constexpr const char* kRingAttentionTransform = "ring_attention";

// One block split across the ranks.
struct ShardedBlock {
  std::string module;  // "transformer.h.0.attn"
  std::string kind;    // "attention" or "mlp"
  std::string detail;  // "12 heads -> 6 per rank; c_attn column-parallel, c_proj row-parallel"
  // The all-reduce after the block: elements per forward at the plan's spec.
  int64_t all_reduce_elements = 0;
  int64_t weight_bytes = 0;           // the block's sharded weights, whole
  int64_t weight_bytes_per_rank = 0;  // what one rank keeps of them
  bool operator==(const ShardedBlock&) const = default;
};

struct TensorParallelPlan {
  int world_size = 1;
  std::string spec;   // the input spec the byte counts are for
  int element_bytes = 4;  // of the activations all-reduced
  std::vector<ShardedBlock> blocks;
  std::vector<PassMiss> replicated;  // blocks that could not be split, and why
  // Sequence parallelism: all-reduces turned into reduce-scatters along the
  // sequence, the all-gathers that restore it, and the ops (norms, residual
  // adds, ...) that run on seq / N tokens per rank.
  bool sequence_parallel = false;
  int reduce_scatters = 0;
  int all_gathers = 0;
  int sequence_local_ops = 0;
  // Ring attention instead of tensor parallelism: the sequence split over
  // the ranks (zigzag for causal models), weights replicated, K/V blocks
  // passed round the ring in every attention block.
  bool ring_attention = false;
  int64_t ring_seq = 0;
  bool ring_zigzag = false;
  int ring_blocks = 0;
  int64_t ring_bytes_per_rank = 0;  // (N - 1) local K+V blocks per attention block, per forward
  int64_t model_weight_bytes = 0;    // the unsharded model's
  int64_t weight_bytes_per_rank = 0; // replicated + this rank's shards
  // Bytes each rank sends per forward: a ring all-reduce of S bytes sends
  // 2 (N - 1) / N * S from every rank; a reduce-scatter or an all-gather of
  // S bytes (N - 1) / N * S (gathers counted at the blocks' average S).
  int64_t bytes_sent_per_rank() const;
  int64_t all_reduce_bytes() const;  // the sum of S over the all-reduces
  // The plan as printed before running: a line per block, the bytes
  // communicated per layer and per forward, memory per GPU, what stays
  // replicated and why.
  std::string describe() const;
};

class TensorParallelModel {
 public:
  TensorParallelModel(TensorParallelPlan plan, std::vector<Model> ranks, std::vector<TransformOutcome> outcomes);
  const TensorParallelPlan& plan() const { return plan_; }
  int world_size() const { return plan_.world_size; }
  const Model& rank(int r) const;  // throws UsageError outside [0, world_size)
  // The passes run first (attention, MLP) and the sharding itself, each
  // with its verification.
  const std::vector<TransformOutcome>& outcomes() const { return outcomes_; }
  // This rank's forward (comm.rank()'s model) with `comm` as the
  // communicator of its all-reduces. Every rank must call it with the same
  // inputs. Throws UsageError when comm's size is not the world size.
  // Tensor inputs are moved to the rank's device first.
  c10::IValue forward(parallel::Communicator& comm, const std::vector<c10::IValue>& inputs) const;
  // Times this rank's forwards (every rank must call it with the same spec
  // and options; the collectives keep them in step): inputs from `spec` and
  // options.seed on the rank's device, as mlopt::run draws them.
  RunResult run(parallel::Communicator& comm, const InputSpec& spec, const RunOptions& options) const;

 private:
  // comm.rank()'s model; throws UsageError when comm's size is not the world size.
  const Model& rank_of(const parallel::Communicator& comm) const;
  friend TensorParallelModel shard_tensor_parallel(const Model&, const InputSpec&, const struct TensorParallelOptions&);
  friend TensorParallelModel shard_one_rank(const Model&, const InputSpec&, const struct TensorParallelOptions&, int);
  TensorParallelPlan plan_;
  std::vector<Model> ranks_;  // every rank's, or (shard_one_rank) one
  int first_rank_ = 0;        // the rank of ranks_[0]
  std::vector<TransformOutcome> outcomes_;
};

// Runs every rank (`run_ranks` calls its argument once per rank: a
// ThreadGroup's or NcclGroup's run) with rank 0 led by `leader`: `leader`
// gets rank 0's model, and each forward it runs on it (one, or a whole
// profile's or timing's worth) makes the other ranks run theirs on the same
// inputs. So the profiler, the runner, anything that takes a Model, works on
// a sharded model: `mlopt profile --tensor-parallel`.
using RankRunner = std::function<void(const std::function<void(parallel::Communicator&)>&)>;
void run_led_by_rank0(const TensorParallelModel& model, const RankRunner& run_ranks,
                      const std::function<void(const Model& rank0)>& leader);

struct TensorParallelOptions {
  int world_size = 2;
  // Where rank r runs: devices[r]. Empty: every rank on the model's device
  // (threads sharing it: what the verification and the tests use). One CUDA
  // device per rank is what NcclGroup runs.
  std::vector<Device> devices;
  // Seeds and tolerance of the verification (as TransformOptions).
  // Megatron sequence parallelism on top: each all-reduce becomes a
  // reduce-scatter along the sequence, norms and residual adds run on this
  // rank's tokens, an all-gather restores the sequence before the next
  // projections.
  bool sequence_parallel = false;
  // Instead of splitting weights: ring attention over world_size ranks, each
  // holding seq / world_size tokens of every activation (for sequences too
  // long for one GPU's memory). Not combined with sequence_parallel.
  bool ring_attention = false;
  // Also the align_linear transform, after the attention and MLP passes (as
  // apply_transforms orders them).
  bool align_linear = false;
  std::vector<uint64_t> verify_seeds = {1001, 1002};
  std::optional<double> tolerance = std::nullopt;
};

// Applies the attention and MLP passes (verified), then shards the result
// for `world_size` ranks on the model's device and verifies the ranks, run
// together (threads sharing the device), against the unsharded model. Throws
// UsageError when world_size < 2 or nothing could be sharded (the message
// lists why per block), RuntimeError when the sharded outputs do not match
// (a bug: the message has the comparison).
TensorParallelModel shard_tensor_parallel(const Model& model, const InputSpec& spec,
                                          const TensorParallelOptions& options);

// One rank's model only (what each process of `mlopt run --nproc-per-node`
// builds): the same passes and sharding without the joint verification.
// The plan is the same on every rank.
TensorParallelModel shard_one_rank(const Model& model, const InputSpec& spec, const TensorParallelOptions& options,
                                   int rank);

}  // namespace mlopt
