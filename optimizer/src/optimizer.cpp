#include "mlopt/optimizer.h"

#include <mutex>

#include "mlopt/core/error.h"
#include "mlopt/core/environment.h"
#include "mlopt/core/torch_bridge.h"

namespace mlopt {
namespace {

bool on_cuda(const Model& m) { return m.options().device.kind == DeviceKind::Cuda; }

std::vector<int> device_indices(const TensorParallelModel& tp) {
  std::vector<int> devices;
  for (int r = 0; r < tp.world_size(); ++r) devices.push_back(tp.rank(r).options().device.index);
  return devices;
}

}  // namespace

OptimizedModel::OptimizedModel(Model model, std::vector<TransformOutcome> outcomes)
    : model_(std::move(model)), outcomes_(std::move(outcomes)) {}

OptimizedModel::OptimizedModel(std::shared_ptr<const TensorParallelModel> tensor_parallel,
                               std::vector<TransformOutcome> outcomes)
    : model_(tensor_parallel->rank(0)),
      outcomes_(std::move(outcomes)),
      tensor_parallel_(std::move(tensor_parallel)) {
  if (on_cuda(model_)) nccl_ = std::make_shared<parallel::NcclGroup>(device_indices(*tensor_parallel_));
}

const TensorParallelPlan* OptimizedModel::tensor_parallel_plan() const {
  return tensor_parallel_ ? &tensor_parallel_->plan() : nullptr;
}

c10::IValue OptimizedModel::forward(std::vector<c10::IValue> inputs) const {
  if (!tensor_parallel_) return mlopt::forward(model_, std::move(inputs));
  c10::IValue out;
  std::mutex m;
  const auto each_rank = [&](parallel::Communicator& comm) {
    auto result = tensor_parallel_->forward(comm, inputs);
    std::lock_guard lock(m);
    if (comm.rank() == 0) out = std::move(result);
  };
  if (nccl_) {
    nccl_->run(each_rank);
  } else {
    parallel::ThreadGroup(tensor_parallel_->world_size()).run(each_rank);
  }
  return out;
}

void OptimizedModel::save(const std::filesystem::path& file) const {
  if (tensor_parallel_) {
    throw UsageError("a tensor-parallel model is one graph per rank and is not saved: save the model before "
                     "sharding and shard it again after loading");
  }
  save_model(model_, file);
}

Optimizer::Optimizer(Model model) : model_(std::move(model)) {}

profiler::ProfileResult Optimizer::profile(const InputSpec& spec, const profiler::ProfileOptions& options) {
  auto result = profiler::profile(model_, spec, options);
  spec_ = spec;
  return result;
}

OptimizedModel Optimizer::optimize(const OptimizeOptions& options) {
  if (!spec_) {
    throw UsageError("Optimizer::optimize needs an input spec: call profile(spec) first or optimize(options, spec)");
  }
  return optimize(options, *spec_);
}

OptimizedModel Optimizer::optimize(const OptimizeOptions& options, const InputSpec& spec) {
  const int ring = options.ring_attention_size;
  if (ring < 1) throw UsageError("ring_attention_size must be at least 1, got " + std::to_string(ring));
  if (ring > 1 && options.tensor_parallel_size > 1) {
    throw UsageError("ring attention and tensor parallelism are not combined in this version: choose one");
  }
  const int tp = ring > 1 ? ring : options.tensor_parallel_size;
  if (tp < 1) throw UsageError("tensor_parallel_size must be at least 1, got " + std::to_string(tp));
  if (options.sequence_parallel && tp == 1) {
    throw UsageError("sequence_parallel splits the sequence across tensor-parallel ranks: set tensor_parallel_size > 1");
  }
  if (tp == 1 && !options.flash_attention && !options.fused_mlp && !options.align_linear && !options.cuda_graphs) {
    throw UsageError("Optimizer::optimize: choose at least one transform");
  }
  TransformOptions t;
  t.flash_attention = options.flash_attention;
  t.fused_mlp = options.fused_mlp;
  t.align_linear = options.align_linear;
  t.cuda_graphs = options.cuda_graphs;
  t.verify_seeds = options.verify_seeds;
  t.tolerance = options.tolerance;
  spec_ = spec;
  if (tp == 1) {
    auto result = apply_transforms(model_, spec, t);
    return OptimizedModel(std::move(result.model), std::move(result.outcomes));
  }
  if (options.cuda_graphs) {
    throw UsageError("CUDA graphs are not combined with tensor parallelism or ring attention in this version: "
                     "choose one");
  }
  TensorParallelOptions o;
  o.world_size = tp;
  o.sequence_parallel = options.sequence_parallel;
  o.ring_attention = ring > 1;
  o.align_linear = options.align_linear;
  o.verify_seeds = options.verify_seeds;
  o.tolerance = options.tolerance;
  if (on_cuda(model_)) {
    const int gpus = cuda_device_count();
    if (gpus < tp) {
      throw UsageError(std::string(ring > 1 ? "ring_attention_size " : "tensor_parallel_size ") + std::to_string(tp) +
                       " needs " + std::to_string(tp) +
                       " GPUs (one per rank) and this machine has " + std::to_string(gpus));
    }
    for (int r = 0; r < tp; ++r) o.devices.push_back(Device{DeviceKind::Cuda, r});
  }
  auto sharded = std::make_shared<const TensorParallelModel>(shard_tensor_parallel(model_, spec, o));
  return OptimizedModel(sharded, sharded->outcomes());
}

}  // namespace mlopt
