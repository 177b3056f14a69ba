// Tensor parallelism for a loaded model: the passes, one sharded graph per
// rank, the joint verification, the plan (tensor_parallel.h).
#include "mlopt/core/tensor_parallel.h"

#include <torch/script.h>

#include <iomanip>
#include <mutex>
#include <sstream>

#include "mlopt/core/collectives.h"
#include "mlopt/core/error.h"
#include "mlopt/core/torch_bridge.h"
#include "mlopt/core/units.h"
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include "graph_info.h"
#include "tensor_probe.h"
#include "transforms/rewrite_support.h"
#include "transforms/tensor_parallel_pass.h"

namespace mlopt {
namespace {

int64_t constant_weight_bytes(const torch::jit::Module& module) {
  int64_t bytes = 0;
  for (const auto& t : graph_tensor_constants(module)) bytes += t.numel() * static_cast<int64_t>(t.element_size());
  return bytes;
}

std::string bytes_text(int64_t bytes) { return human_bytes(bytes); }

// Puts every tensor (and device) constant of the graph on `device`: a rank's
// weights live on its own GPU.
void move_constants(torch::jit::Graph& graph, const c10::Device& device) {
  std::vector<torch::jit::Node*> constants;
  for (torch::jit::Node* n : graph.nodes()) {
    if (n->kind() == c10::prim::Constant) constants.push_back(n);
  }
  for (torch::jit::Node* n : constants) {
    const auto value = torch::jit::toIValue(n->output());
    if (!value) continue;
    c10::IValue moved;
    if (value->isTensor() && value->toTensor().device() != device) {
      moved = value->toTensor().to(device);
    } else if (value->isDevice() && value->toDevice().is_cuda() && value->toDevice() != device) {
      moved = device;
    } else {
      continue;
    }
    torch::jit::WithInsertPoint at(n);
    n->output()->replaceAllUsesWith(graph.insertConstant(moved));
  }
}

Model model_on(const Model& model, const Device& device) {
  auto impl = std::make_shared<Model::Impl>(model.impl());
  impl->options.device = device;
  return Model::from_impl(std::move(impl));
}

struct RankGraph;
void add_sequence_outcome(const RankGraph& g, TransformOutcome& outcome);

struct RankGraph {
  Model model;
  transforms::ShardResult result;
  std::optional<transforms::SequenceParallelResult> sequence;
  std::optional<transforms::RingResult> ring;
};

RankGraph shard_rank(const Model& base, const InputSpec& spec, uint64_t seed, int rank, int world,
                     const TensorParallelOptions& options) {
  const auto& devices = options.devices;
  torch::jit::Module module = base.impl().frozen.clone();
  const auto graph = module.get_method("forward").graph();
  const auto shapes = probe_tensor_shapes(graph, module._ivalue(), make_inputs(base, spec, seed), spec.to_string());
  RewriteContext context;
  context.device = to_torch_device(base.options().device);
  context.shapes = &shapes;
  transforms::ShardResult result;
  std::optional<transforms::SequenceParallelResult> sequence;
  std::optional<transforms::RingResult> ring;
  if (options.ring_attention) {
    ring = transforms::apply_ring_attention(*graph, context, world);
  } else {
    result = transforms::shard_tensor_parallel(*graph, context, rank, world, options.sequence_parallel);
    if (options.sequence_parallel) sequence = transforms::apply_sequence_parallel(*graph, context, world);
  }
  if (devices.empty()) {
    return {model_with_module(base, module), std::move(result), std::move(sequence), std::move(ring)};
  }
  const Device device = devices.at(static_cast<std::size_t>(rank));
  move_constants(*graph, to_torch_device(device));
  torch::jit::EliminateDeadCode(graph->block());
  return {model_on(model_with_module(base, module), device), std::move(result), std::move(sequence),
          std::move(ring)};
}

std::string reasons(const std::vector<PassMiss>& missed) {
  std::string s;
  for (const auto& m : missed) s += "\n  " + (m.module.empty() ? m.op : m.module) + ": " + m.reason;
  return s;
}

// The rank graph's outcome lines; throws UsageError when nothing could be
// split (the reasons listed).
TransformOutcome rank_outcome(const RankGraph& g, int world) {
  TransformOutcome outcome;
  if (g.ring) {
    outcome.transform = kRingAttentionTransform;
    if (!g.ring->problem.empty()) {
      throw UsageError("ring attention over " + std::to_string(world) + " ranks: " + g.ring->problem);
    }
    outcome.matched.push_back(
        {"", std::to_string(g.ring->attention) + " attention blocks through the ring; " +
                 std::to_string(g.ring->seq) + " tokens, " + std::to_string(g.ring->seq / world) + " per rank" +
                 (g.ring->zigzag ? " (zigzag chunks for causal balance)" : "") + "; " +
                 std::to_string(g.ring->positions) + " position ranges made global"});
    return outcome;
  }
  outcome.transform = kTensorParallelTransform;
  if (g.result.sharded.empty()) {
    throw UsageError("nothing to split over " + std::to_string(world) + " ranks:" + reasons(g.result.missed));
  }
  for (const auto& b : g.result.sharded) outcome.matched.push_back({b.module, b.kind + ": " + b.detail});
  outcome.missed = g.result.missed;
  add_sequence_outcome(g, outcome);
  return outcome;
}

void add_sequence_outcome(const RankGraph& g, TransformOutcome& outcome) {
  if (!g.sequence) return;
  outcome.matched.push_back({"", "sequence parallel: " + std::to_string(g.sequence->reduce_scatters) +
                                     " reduce-scatters, " + std::to_string(g.sequence->all_gathers) +
                                     " all-gathers, " + std::to_string(g.sequence->local_ops) +
                                     " ops on this rank's tokens"});
  outcome.missed.insert(outcome.missed.end(), g.sequence->missed.begin(), g.sequence->missed.end());
}

TensorParallelPlan make_plan(const Model& base, const InputSpec& spec, int world, const RankGraph& g) {
  const transforms::ShardResult& r = g.result;
  TensorParallelPlan plan;
  plan.world_size = world;
  plan.spec = spec.to_string();
  plan.element_bytes = static_cast<int>(element_size(base.info().dtype));
  plan.blocks = r.sharded;
  plan.replicated = r.missed;
  plan.model_weight_bytes = constant_weight_bytes(base.impl().frozen);
  plan.weight_bytes_per_rank = plan.model_weight_bytes;
  for (const auto& b : plan.blocks) plan.weight_bytes_per_rank -= b.weight_bytes - b.weight_bytes_per_rank;
  if (g.ring) {
    plan.ring_attention = true;
    plan.ring_seq = g.ring->seq;
    plan.ring_zigzag = g.ring->zigzag;
    plan.ring_blocks = g.ring->attention;
    plan.ring_bytes_per_rank = 2 * g.ring->kv_elements / world * (world - 1) * plan.element_bytes;
    plan.weight_bytes_per_rank = plan.model_weight_bytes;
  }
  if (g.sequence) {
    plan.sequence_parallel = true;
    plan.reduce_scatters = g.sequence->reduce_scatters;
    plan.all_gathers = g.sequence->all_gathers;
    plan.sequence_local_ops = g.sequence->local_ops;
    plan.replicated.insert(plan.replicated.end(), g.sequence->missed.begin(), g.sequence->missed.end());
  }
  return plan;
}


// The attention and MLP passes, which recognise the blocks the sharding
// then splits (on the CPU they run mlopt's reference ops).
Model with_block_ops(const Model& model, const InputSpec& spec, const TensorParallelOptions& options,
                     std::vector<TransformOutcome>& outcomes) {
  TransformOptions passes;
  passes.flash_attention = true;
  passes.fused_mlp = true;
  passes.align_linear = options.align_linear;
  passes.verify_seeds = options.verify_seeds;
  passes.tolerance = options.tolerance;
  auto transformed = apply_transforms(model, spec, passes);
  outcomes = transformed.outcomes;
  return transformed.model;
}

void check_options(const TensorParallelOptions& o) {
  if (o.world_size < 2) {
    throw UsageError(std::string(o.ring_attention ? "ring attention" : "tensor parallelism") +
                     " needs at least 2 ranks, got " + std::to_string(o.world_size));
  }
  if (!o.devices.empty() && static_cast<int>(o.devices.size()) != o.world_size) {
    throw UsageError("tensor parallelism over " + std::to_string(o.world_size) + " ranks needs one device per rank, got " +
                     std::to_string(o.devices.size()));
  }
  if (o.verify_seeds.empty()) throw UsageError("verification needs at least one seed");
  if (o.ring_attention && o.sequence_parallel) {
    throw UsageError("ring attention already splits the sequence: it is not combined with sequence parallelism");
  }
}

std::vector<c10::IValue> on_device(const std::vector<c10::IValue>& inputs, const Device& device) {
  std::vector<c10::IValue> moved;
  for (const auto& v : inputs) moved.push_back(v.isTensor() ? c10::IValue(v.toTensor().to(to_torch_device(device))) : v);
  return moved;
}

}  // namespace

int64_t TensorParallelPlan::all_reduce_bytes() const {
  int64_t s = 0;
  for (const auto& b : blocks) s += b.all_reduce_elements * element_bytes;
  return s;
}

int64_t TensorParallelPlan::bytes_sent_per_rank() const {
  const int64_t n = world_size;
  if (!sequence_parallel || blocks.empty()) return all_reduce_bytes() * 2 * (n - 1) / n;
  // The all-reduces not turned into reduce-scatters stay whole.
  const int64_t average = all_reduce_bytes() / static_cast<int64_t>(blocks.size());
  const int64_t kept = static_cast<int64_t>(blocks.size()) - reduce_scatters;
  return (kept * 2 + reduce_scatters + all_gathers) * average * (n - 1) / n;
}

std::string TensorParallelPlan::describe() const {
  std::ostringstream s;
  if (ring_attention) {
    s << "Ring-attention plan: " << world_size << " ranks, inputs " << spec << "\n"
      << "  the sequence of " << ring_seq << " tokens is split " << world_size << " ways, " << ring_seq / world_size
      << " tokens per rank" << (ring_zigzag ? " (causal: rank r holds chunks r and 2N-1-r of 2N)" : "") << "\n"
      << "  " << ring_blocks << " attention blocks pass key/value blocks round the ring (send/recv overlapped with "
      << "the attention kernel on GPUs); positions stay global\n"
      << "Communication: each rank sends " << bytes_text(ring_bytes_per_rank) << " of keys and values per forward ("
      << world_size - 1 << " steps per block), plus the outputs gathered\n"
      << "Weights per GPU: " << bytes_text(weight_bytes_per_rank) << " (replicated); activations: 1/" << world_size
      << " of the sequence\n";
    return s.str();
  }
  s << "Tensor-parallel plan: " << world_size << " ranks, inputs " << spec << "\n";
  for (const auto& b : blocks) {
    s << "  " << std::left << std::setw(28) << b.module << " " << std::setw(9) << b.kind << " " << b.detail << "\n"
      << "  " << std::setw(28) << "" << " " << std::setw(9) << "" << " weights " << bytes_text(b.weight_bytes)
      << " -> " << bytes_text(b.weight_bytes_per_rank) << " per rank; all-reduce "
      << bytes_text(b.all_reduce_elements * element_bytes) << " per forward\n";
  }
  if (!replicated.empty()) {
    s << "Replicated on every rank (not split):\n";
    for (const auto& m : replicated) s << "  " << (m.module.empty() ? m.op : m.module) << ": " << m.reason << "\n";
  }
  const int64_t layers = static_cast<int64_t>(blocks.size());
  if (sequence_parallel) {
    s << "Sequence parallel: " << reduce_scatters << " all-reduce" << (reduce_scatters == 1 ? "" : "s")
      << " -> reduce-scatter along the sequence, " << all_gathers << " all-gather" << (all_gathers == 1 ? "" : "s")
      << " where the whole sequence is read again, " << sequence_local_ops
      << " ops (norms, residual adds) on 1/" << world_size << " of the tokens\n";
  }
  s << "Communication: " << layers << " all-reduce" << (layers == 1 ? "" : "s") << " of "
    << bytes_text(layers ? all_reduce_bytes() / layers : 0) << " on average, " << bytes_text(all_reduce_bytes())
    << " per forward; each rank sends " << bytes_text(bytes_sent_per_rank()) << " (ring: 2(N-1)/N of each)\n";
  s << "Weights per GPU: " << bytes_text(weight_bytes_per_rank) << " of the model's "
    << bytes_text(model_weight_bytes) << "\n";
  return s.str();
}

TensorParallelModel::TensorParallelModel(TensorParallelPlan plan, std::vector<Model> ranks,
                                         std::vector<TransformOutcome> outcomes)
    : plan_(std::move(plan)), ranks_(std::move(ranks)), outcomes_(std::move(outcomes)) {}

const Model& TensorParallelModel::rank(int r) const {
  const int first = static_cast<int>(ranks_.size()) == plan_.world_size ? 0 : first_rank_;
  const int i = r - first;
  if (i < 0 || i >= static_cast<int>(ranks_.size())) {
    throw UsageError("rank " + std::to_string(r) + " is not held here (world size " +
                     std::to_string(plan_.world_size) + ")");
  }
  return ranks_[static_cast<std::size_t>(i)];
}

const Model& TensorParallelModel::rank_of(const parallel::Communicator& comm) const {
  if (comm.size() != plan_.world_size) {
    throw UsageError("the model is sharded for " + std::to_string(plan_.world_size) + " ranks, the group has " +
                     std::to_string(comm.size()));
  }
  return rank(comm.rank());
}

c10::IValue TensorParallelModel::forward(parallel::Communicator& comm, const std::vector<c10::IValue>& inputs) const {
  const Model& m = rank_of(comm);
  CommunicatorScope scope(comm);
  return mlopt::forward(m, on_device(inputs, m.options().device));
}

RunResult TensorParallelModel::run(parallel::Communicator& comm, const InputSpec& spec,
                                   const RunOptions& options) const {
  const Model& m = rank_of(comm);
  CommunicatorScope scope(comm);
  return run_with_inputs(m, make_inputs(m, spec, options.seed), spec, options);
}

TensorParallelModel shard_tensor_parallel(const Model& model, const InputSpec& spec,
                                          const TensorParallelOptions& options) {
  const int world = options.world_size;
  check_options(options);
  std::vector<TransformOutcome> outcomes;
  const Model base = with_block_ops(model, spec, options, outcomes);
  std::vector<Model> ranks;
  std::optional<RankGraph> rank0;
  for (int r = 0; r < world; ++r) {
    auto g = shard_rank(base, spec, options.verify_seeds.front(), r, world, options);
    ranks.push_back(g.model);
    if (r == 0) rank0 = std::move(g);
  }
  TransformOutcome outcome = rank_outcome(*rank0, world);
  TensorParallelModel tp(make_plan(base, spec, world, *rank0), std::move(ranks), {});

  // The ranks together (threads sharing the model's device) against the
  // model before sharding.
  const auto space = model.options().device.kind == DeviceKind::Cuda ? parallel::BufferSpace::kDevice
                                                                     : parallel::BufferSpace::kHost;
  const double tolerance = options.tolerance.value_or(default_tolerance(base.info().dtype));
  outcome.verification =
      verify_forward(base, spec, options.verify_seeds, tolerance, [&](std::vector<c10::IValue> inputs) {
        parallel::ThreadGroup group(world, space);
        c10::IValue out;
        std::mutex m;
        group.run([&](parallel::Communicator& comm) {
          auto result = tp.forward(comm, inputs);
          std::lock_guard lock(m);
          if (comm.rank() == 0) out = std::move(result);
        });
        return out;
      });
  if (!outcome.verification->passed) {
    std::ostringstream why;
    why << "the " << world << (options.ring_attention ? " ring-attention" : " tensor-parallel")
        << " ranks do not reproduce the model's outputs";
    for (const auto& o : outcome.verification->outputs) {
      why << "; " << o.name << ": error " << o.error << " (tolerance " << o.tolerance << ")" << o.problem;
    }
    if (!outcome.verification->error.empty()) why << "; " << outcome.verification->error;
    throw RuntimeError(why.str());
  }
  outcome.applied = true;
  outcomes.push_back(std::move(outcome));
  tp.outcomes_ = std::move(outcomes);
  return tp;
}

TensorParallelModel shard_one_rank(const Model& model, const InputSpec& spec, const TensorParallelOptions& options,
                                   int rank) {
  const int world = options.world_size;
  check_options(options);
  if (rank < 0 || rank >= world) throw UsageError("rank " + std::to_string(rank) + " of " + std::to_string(world));
  std::vector<TransformOutcome> outcomes;
  const Model base = with_block_ops(model, spec, options, outcomes);
  auto g = shard_rank(base, spec, options.verify_seeds.front(), rank, world, options);
  TransformOutcome outcome = rank_outcome(g, world);
  outcome.applied = true;
  outcome.note = "sharded for rank " + std::to_string(rank) + "; verified only when all ranks run in one process";
  outcomes.push_back(std::move(outcome));
  TensorParallelModel tp(make_plan(base, spec, world, g), {g.model}, std::move(outcomes));
  tp.first_rank_ = rank;
  return tp;
}

}  // namespace mlopt
