// The collectives a tensor-parallel rank's graph calls (mlopt::all_reduce
// after each row-parallel projection; with sequence parallelism
// mlopt::reduce_scatter / all_gather / shard_of along the sequence), over the
// communicator of the thread's CommunicatorScope (threads on the CPU, NCCL on
// GPUs).
#include <torch/script.h>

#include <string>

#include "collective_ops.h"
#include "mlopt/core/collectives.h"
#include "mlopt/core/ops.h"

namespace mlopt {
namespace {

thread_local parallel::Communicator* current = nullptr;

}  // namespace

parallel::ElementType ops::element_type(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return parallel::ElementType::kFloat32;
    case at::kHalf: return parallel::ElementType::kFloat16;
    case at::kBFloat16: return parallel::ElementType::kBFloat16;
    default:
      TORCH_CHECK(false, "mlopt::all_reduce: fp32, fp16 or bf16 tensors only, got ", t.scalar_type());
  }
  return parallel::ElementType::kFloat32;
}

CommunicatorScope::CommunicatorScope(parallel::Communicator& comm) : previous_(current) { current = &comm; }
CommunicatorScope::~CommunicatorScope() { current = previous_; }
parallel::Communicator* current_communicator() { return current; }

namespace ops {

parallel::Communicator& communicator_for(const char* op, const at::Tensor& x, int64_t world_size) {
  parallel::Communicator* comm = current_communicator();
  TORCH_CHECK(comm != nullptr, "mlopt::", op, ": this graph is one rank of a ", world_size,
              "-way tensor-parallel model and runs only with its ranks (mlopt run --tensor-parallel ", world_size,
              ", or --nproc-per-node ", world_size, ")");
  TORCH_CHECK(comm->size() == world_size, "mlopt::", op, ": the graph was sharded for ", world_size,
              " ranks but runs in a group of ", comm->size());
  const bool on_device = comm->space() == parallel::BufferSpace::kDevice;
  TORCH_CHECK(x.is_cuda() == on_device, "mlopt::", op, ": a ", on_device ? "GPU" : "host",
              " communicator cannot take a tensor on ", x.device());
  return *comm;
}

void* stream_for(const parallel::Communicator& comm, const at::Tensor& t) {
  return comm.space() == parallel::BufferSpace::kDevice ? collective_stream(t) : nullptr;
}

int64_t checked_dim(const at::Tensor& x, int64_t dim, int64_t world_size, const char* op) {
  const int64_t d = dim < 0 ? dim + x.dim() : dim;
  TORCH_CHECK(d >= 0 && d < x.dim(), "mlopt::", op, ": dim ", dim, " of a ", x.dim(), "-d tensor");
  TORCH_CHECK(x.size(d) % world_size == 0, "mlopt::", op, ": ", x.size(d), " entries along dim ", dim,
              " do not split over ", world_size, " ranks");
  return d;
}

at::Tensor all_reduce(const at::Tensor& x, int64_t world_size) {
  auto& comm = communicator_for("all_reduce", x, world_size);
  at::Tensor out = x.clone(at::MemoryFormat::Contiguous);  // one copy, dense
  comm.all_reduce_sum(out.data_ptr(), static_cast<std::size_t>(out.numel()), element_type(out), stream_for(comm, out));
  return out;
}

// The sum over the ranks, of which this rank keeps its 1/world_size along
// `dim` (the sequence, for sequence parallelism).
at::Tensor reduce_scatter(const at::Tensor& x, int64_t dim, int64_t world_size) {
  auto& comm = communicator_for("reduce_scatter", x, world_size);
  const int64_t d = checked_dim(x, dim, world_size, "reduce_scatter");
  // The communicator splits the flat buffer into world_size blocks: put
  // `dim` first so that block r is chunk r along it.
  const at::Tensor send = x.movedim(d, 0).contiguous();
  auto shape = send.sizes().vec();
  shape[0] /= world_size;
  at::Tensor recv = at::empty(shape, send.options());
  comm.reduce_scatter_sum(send.data_ptr(), recv.data_ptr(), static_cast<std::size_t>(recv.numel()),
                          element_type(send), stream_for(comm, send));
  return recv.movedim(0, d).contiguous();
}

// Every rank's chunk along `dim`, concatenated in rank order.
at::Tensor all_gather(const at::Tensor& x, int64_t dim, int64_t world_size) {
  auto& comm = communicator_for("all_gather", x, world_size);
  const int64_t d = dim < 0 ? dim + x.dim() : dim;
  TORCH_CHECK(d >= 0 && d < x.dim(), "mlopt::all_gather: dim ", dim, " of a ", x.dim(), "-d tensor");
  const at::Tensor send = x.movedim(d, 0).contiguous();
  auto shape = send.sizes().vec();
  shape[0] *= world_size;
  at::Tensor recv = at::empty(shape, send.options());
  comm.all_gather(send.data_ptr(), recv.data_ptr(), static_cast<std::size_t>(send.numel()), element_type(send),
                  stream_for(comm, send));
  return recv.movedim(0, d).contiguous();
}

// This rank's chunk of a tensor every rank holds whole (no communication).
at::Tensor shard_of(const at::Tensor& x, int64_t dim, int64_t world_size) {
  auto& comm = communicator_for("shard_of", x, world_size);
  const int64_t d = checked_dim(x, dim, world_size, "shard_of");
  const int64_t len = x.size(d) / world_size;
  return x.narrow(d, comm.rank() * len, len);
}

}  // namespace ops
}  // namespace mlopt

TORCH_LIBRARY_FRAGMENT(mlopt, m) {
  // Not a pure function of its input: never folded, merged or reordered.
  m.def(torch::schema("all_reduce(Tensor x, int world_size) -> Tensor", c10::AliasAnalysisKind::CONSERVATIVE));
  m.def(torch::schema("reduce_scatter(Tensor x, int dim, int world_size) -> Tensor",
                      c10::AliasAnalysisKind::CONSERVATIVE));
  m.def(torch::schema("all_gather(Tensor x, int dim, int world_size) -> Tensor", c10::AliasAnalysisKind::CONSERVATIVE));
  m.def(torch::schema("shard_of(Tensor x, int dim, int world_size) -> Tensor", c10::AliasAnalysisKind::CONSERVATIVE));
}

TORCH_LIBRARY_IMPL(mlopt, CPU, m) {
  m.impl("all_reduce", &mlopt::ops::all_reduce);
  m.impl("reduce_scatter", &mlopt::ops::reduce_scatter);
  m.impl("all_gather", &mlopt::ops::all_gather);
  m.impl("shard_of", &mlopt::ops::shard_of);
}
#if MLOPT_TORCH_CUDA
TORCH_LIBRARY_IMPL(mlopt, CUDA, m) {
  m.impl("all_reduce", &mlopt::ops::all_reduce);
  m.impl("reduce_scatter", &mlopt::ops::reduce_scatter);
  m.impl("all_gather", &mlopt::ops::all_gather);
  m.impl("shard_of", &mlopt::ops::shard_of);
}
#endif
