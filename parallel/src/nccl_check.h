#pragma once
// The one check for NCCL calls (private to the NCCL backend): it throws
// NcclError naming the call, NCCL's reason and its last error text.
#include <cuda_bf16.h>  // before nccl.h: older NCCLs declare ncclBfloat16 only when it is seen
#include <nccl.h>

#include "mlopt/parallel/communicator.h"
#include "mlopt/parallel/nccl.h"

// Non-blocking communicators (the abort path relies on them), ncclCommFinalize
// and ncclGetLastError all arrived by NCCL 2.14.
#if !defined(NCCL_VERSION_CODE) || NCCL_VERSION_CODE < NCCL_VERSION(2, 14, 0)
#error "mlopt needs NCCL 2.14 or newer (non-blocking communicators); set NCCL_ROOT to a newer NCCL"
#endif

namespace mlopt::parallel::detail {

[[noreturn]] void throw_nccl_error(ncclResult_t code, const char* call, const char* file, int line);

ncclDataType_t nccl_type(ElementType type);

}  // namespace mlopt::parallel::detail

// ncclInProgress is not a failure: non-blocking communicators return it while
// NCCL finishes the call in the background (callers then poll, NcclComm::wait).
#define MLOPT_NCCL_CHECK(call)                                                                    \
  do {                                                                                            \
    const ncclResult_t mlopt_nccl_status_ = (call);                                               \
    if (mlopt_nccl_status_ != ncclSuccess && mlopt_nccl_status_ != ncclInProgress)                \
      ::mlopt::parallel::detail::throw_nccl_error(mlopt_nccl_status_, #call, __FILE__, __LINE__); \
  } while (0)
