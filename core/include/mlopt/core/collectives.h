#pragma once
// The communicator mlopt's collective TorchScript ops use on this thread.
//
//   mlopt::all_reduce(Tensor x, int world_size) -> Tensor
//     the element-wise sum of x over the ranks of the current communicator
//     (a new tensor; x is not changed). A tensor-parallel rank's graph calls
//     it after each row-parallel projection. world_size is the group the
//     graph was sharded for: running it under another size is an error.
//   mlopt::reduce_scatter(Tensor x, int dim, int world_size) -> Tensor
//     the sum over the ranks, of which this rank keeps chunk `rank` along dim
//     (sequence parallelism: after a row-parallel projection).
//   mlopt::all_gather(Tensor x, int dim, int world_size) -> Tensor
//     every rank's x concatenated along dim in rank order.
//   mlopt::shard_of(Tensor x, int dim, int world_size) -> Tensor
//     chunk `rank` of x along dim (a tensor every rank holds whole).
//
// Each rank's forward runs on its own thread (ThreadGroup, NcclGroup) or in
// its own process, so "current" is per thread: a CommunicatorScope sets it
// for the forward it encloses.
#include "mlopt/parallel/communicator.h"

namespace mlopt {

class CommunicatorScope {
 public:
  explicit CommunicatorScope(parallel::Communicator& comm);
  ~CommunicatorScope();
  CommunicatorScope(const CommunicatorScope&) = delete;
  CommunicatorScope& operator=(const CommunicatorScope&) = delete;

 private:
  parallel::Communicator* previous_;
};

// The communicator of the innermost scope on this thread, or null.
parallel::Communicator* current_communicator();

}  // namespace mlopt
