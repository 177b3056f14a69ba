#pragma once
// Internal: what mlopt's collective and ring ops share (all_reduce_op.cpp,
// ring_ops.cpp): the thread's communicator checked against the graph's
// world size, the stream and element type of a tensor, and all_gather.
#include <torch/script.h>

#include "mlopt/parallel/communicator.h"

namespace mlopt::ops {

// The current communicator, checked: one exists (else the message says how
// to run a sharded graph), its size is world_size, and it holds tensors
// where x lives. `op` names the op in messages.
parallel::Communicator& communicator_for(const char* op, const at::Tensor& x, int64_t world_size);
// The stream a collective on t is ordered on (null for host communicators).
void* stream_for(const parallel::Communicator& comm, const at::Tensor& t);
void* collective_stream(const at::Tensor& t);
parallel::ElementType element_type(const at::Tensor& t);
// `dim` normalised; throws unless x.size(dim) splits over world_size.
int64_t checked_dim(const at::Tensor& x, int64_t dim, int64_t world_size, const char* op);

at::Tensor all_gather(const at::Tensor& x, int64_t dim, int64_t world_size);

}  // namespace mlopt::ops
