// mlopt::all_reduce: the collective a tensor-parallel rank's graph calls
// after each row-parallel projection, over the communicator of the thread's
// CommunicatorScope (threads on the CPU, NCCL on GPUs).
#include <torch/script.h>

#include <string>

#include "collective_stream.h"
#include "mlopt/core/collectives.h"
#include "mlopt/core/ops.h"

namespace mlopt {
namespace {

thread_local parallel::Communicator* current = nullptr;

parallel::ElementType element_type(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return parallel::ElementType::kFloat32;
    case at::kHalf: return parallel::ElementType::kFloat16;
    case at::kBFloat16: return parallel::ElementType::kBFloat16;
    default:
      TORCH_CHECK(false, "mlopt::all_reduce: fp32, fp16 or bf16 tensors only, got ", t.scalar_type());
  }
  return parallel::ElementType::kFloat32;
}

}  // namespace

CommunicatorScope::CommunicatorScope(parallel::Communicator& comm) : previous_(current) { current = &comm; }
CommunicatorScope::~CommunicatorScope() { current = previous_; }
parallel::Communicator* current_communicator() { return current; }

namespace ops {

at::Tensor all_reduce(const at::Tensor& x, int64_t world_size) {
  parallel::Communicator* comm = current_communicator();
  TORCH_CHECK(comm != nullptr, "mlopt::all_reduce: this graph is one rank of a ", world_size,
              "-way tensor-parallel model and runs only with its ranks (mlopt run --tensor-parallel ", world_size,
              ", or --nproc-per-node ", world_size, ")");
  TORCH_CHECK(comm->size() == world_size, "mlopt::all_reduce: the graph was sharded for ", world_size,
              " ranks but runs in a group of ", comm->size());
  const bool on_device = comm->space() == parallel::BufferSpace::kDevice;
  TORCH_CHECK(x.is_cuda() == on_device, "mlopt::all_reduce: a ", on_device ? "GPU" : "host",
              " communicator cannot reduce a tensor on ", x.device());
  at::Tensor out = x.contiguous().clone();
  comm->all_reduce_sum(out.data_ptr(), static_cast<std::size_t>(out.numel()), element_type(out),
                       on_device ? collective_stream(out) : nullptr);
  return out;
}

}  // namespace ops
}  // namespace mlopt

TORCH_LIBRARY_FRAGMENT(mlopt, m) {
  // Not a pure function of its input: never folded, merged or reordered.
  m.def(torch::schema("all_reduce(Tensor x, int world_size) -> Tensor", c10::AliasAnalysisKind::CONSERVATIVE));
}

TORCH_LIBRARY_IMPL(mlopt, CPU, m) { m.impl("all_reduce", &mlopt::ops::all_reduce); }
#if MLOPT_TORCH_CUDA
TORCH_LIBRARY_IMPL(mlopt, CUDA, m) { m.impl("all_reduce", &mlopt::ops::all_reduce); }
#endif
