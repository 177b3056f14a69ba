#pragma once
// One rank's NCCL communicator (private to the NCCL backend), created
// non-blocking so that no thread is ever stuck inside an NCCL call: every
// call returns at once and the caller polls ncclCommGetAsyncError. That is
// what makes aborting safe while other ranks are mid-operation: abort() takes
// the same lock as every call, so the handle is never freed under a caller,
// and aborting wakes kernels and background work waiting for a failed peer.
#include <nccl.h>

#include <memory>
#include <mutex>
#include <vector>

#include "nccl_check.h"

namespace mlopt::parallel::detail {

// A rank's communicator was aborted because another rank failed: the group
// reports that rank's error, not this one.
class NcclAborted : public NcclError {
 public:
  using NcclError::NcclError;
};

class NcclComm {
 public:
  // One communicator per listed device of this process, rank i on devices[i],
  // created together (one NCCL group). The caller's current device is kept.
  static std::vector<std::unique_ptr<NcclComm>> create_group(const std::vector<int>& devices);
  // This process's `rank` of `nranks` on `device` (made current first).
  static std::unique_ptr<NcclComm> create_rank(const ncclUniqueId& id, int nranks, int rank, int device);

  // Finalizes and destroys (waits for the communicator's enqueued work); aborts
  // instead when that fails or when an exception is unwinding the stack.
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  int device() const { return device_; }

  // Runs `call(comm)` (one NCCL call, or a whole ncclGroupStart..End) and
  // waits until NCCL has enqueued it on its stream. `text` names the call in
  // errors. Throws NcclAborted when the communicator was aborted.
  template <class Call>
  void enqueue(const char* text, const char* file, int line, Call&& call) {
    std::unique_lock lock(mutex_);
    throw_if_aborted(text);
    const ncclResult_t status = call(comm_);
    if (status != ncclSuccess && status != ncclInProgress) throw_nccl_error(status, text, file, line);
    wait(lock, text, file, line);
  }

  // Aborts the communicator: its kernels and pending work return, later calls
  // throw NcclAborted. Safe from any thread, any number of times.
  void abort() noexcept;

  // Destroys several communicators of one process: all are finalized first,
  // then waited for, then destroyed, so no finalize waits for a peer that is
  // not being finalized yet.
  static void destroy_all(std::vector<std::unique_ptr<NcclComm>>& comms) noexcept;

 private:
  NcclComm(ncclComm_t comm, int device) : comm_(comm), device_(device) {}
  void throw_if_aborted(const char* text) const;
  // Polls until the last call has completed (ncclInProgress → success/error),
  // releasing the lock between polls so abort() can get in.
  void wait(std::unique_lock<std::mutex>& lock, const char* text, const char* file, int line);
  bool start_finalize() noexcept;
  void finish_destroy(bool finalized) noexcept;

  std::mutex mutex_;
  ncclComm_t comm_ = nullptr;  // null once aborted or destroyed
  bool aborted_ = false;
  int device_ = 0;
};

}  // namespace mlopt::parallel::detail
