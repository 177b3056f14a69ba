#include "nccl_comm.h"

#include <cuda_runtime_api.h>

#include <chrono>
#include <exception>
#include <string>
#include <thread>

#include "mlopt/kernels/cuda_check.h"

namespace mlopt::parallel::detail {
namespace {

ncclConfig_t non_blocking_config() {
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  return config;
}

// Puts the caller's device back however the scope is left: creating comms
// makes each rank's device current in turn.
class DeviceRestore {
 public:
  DeviceRestore() { ok_ = cudaGetDevice(&device_) == cudaSuccess; }
  ~DeviceRestore() {
    if (ok_) cudaSetDevice(device_);
  }
  DeviceRestore(const DeviceRestore&) = delete;
  DeviceRestore& operator=(const DeviceRestore&) = delete;

 private:
  int device_ = 0;
  bool ok_ = false;
};

}  // namespace

std::vector<std::unique_ptr<NcclComm>> NcclComm::create_group(const std::vector<int>& devices) {
  const int n = static_cast<int>(devices.size());
  ncclUniqueId id;
  MLOPT_NCCL_CHECK(ncclGetUniqueId(&id));
  ncclConfig_t config = non_blocking_config();
  std::vector<ncclComm_t> raw(devices.size(), nullptr);
  DeviceRestore restore;
  // One thread creating several ranks must do so inside one group, else the
  // first init would wait for the others forever. Every failure inside the
  // group still reaches ncclGroupEnd, which closes it on this thread.
  cudaError_t cuda_status = cudaSuccess;
  int cuda_failed_device = -1;
  ncclResult_t init_status = ncclSuccess;
  MLOPT_NCCL_CHECK(ncclGroupStart());
  for (int i = 0; i < n; ++i) {
    cuda_status = cudaSetDevice(devices[i]);
    if (cuda_status != cudaSuccess) {
      cuda_failed_device = devices[i];
      break;
    }
    init_status = ncclCommInitRankConfig(&raw[i], n, id, i, &config);
    if (init_status != ncclSuccess && init_status != ncclInProgress) break;
  }
  const ncclResult_t end_status = ncclGroupEnd();

  std::vector<std::unique_ptr<NcclComm>> comms;
  for (int i = 0; i < n; ++i) {
    if (raw[i] != nullptr) comms.push_back(std::unique_ptr<NcclComm>(new NcclComm(raw[i], devices[i])));
  }
  try {
    if (cuda_status != cudaSuccess) {
      kernels::throw_cuda_error(cuda_status, ("cudaSetDevice(" + std::to_string(cuda_failed_device) + ")").c_str(),
                                __FILE__, __LINE__);
    }
    if (init_status != ncclSuccess && init_status != ncclInProgress) {
      throw_nccl_error(init_status, "ncclCommInitRankConfig", __FILE__, __LINE__);
    }
    if (end_status != ncclSuccess && end_status != ncclInProgress) {
      throw_nccl_error(end_status, "ncclGroupEnd (creating the communicators)", __FILE__, __LINE__);
    }
    for (auto& comm : comms) {
      std::unique_lock lock(comm->mutex_);
      comm->wait(lock, "ncclCommInitRankConfig", __FILE__, __LINE__);
    }
  } catch (...) {
    // Half-made communicators may wait for peers that will never come.
    for (auto& comm : comms) comm->abort();
    throw;
  }
  if (static_cast<int>(comms.size()) != n) {
    for (auto& comm : comms) comm->abort();
    throw NcclError("ncclCommInitRankConfig returned no communicator for some of the " + std::to_string(n) + " ranks");
  }
  return comms;
}

std::unique_ptr<NcclComm> NcclComm::create_rank(const ncclUniqueId& id, int nranks, int rank, int device) {
  MLOPT_CUDA_CHECK(cudaSetDevice(device));
  ncclConfig_t config = non_blocking_config();
  ncclComm_t raw = nullptr;
  ncclUniqueId id_copy = id;  // ncclCommInitRankConfig takes the id by value
  const ncclResult_t status = ncclCommInitRankConfig(&raw, nranks, id_copy, rank, &config);
  std::unique_ptr<NcclComm> comm;
  if (raw != nullptr) comm.reset(new NcclComm(raw, device));
  try {
    if (status != ncclSuccess && status != ncclInProgress) {
      throw_nccl_error(status, "ncclCommInitRankConfig", __FILE__, __LINE__);
    }
    if (!comm) throw NcclError("ncclCommInitRankConfig returned no communicator for rank " + std::to_string(rank));
    std::unique_lock lock(comm->mutex_);
    // Completes once every rank has joined (it may take a while on many nodes).
    comm->wait(lock, "ncclCommInitRankConfig", __FILE__, __LINE__);
  } catch (...) {
    if (comm) comm->abort();
    throw;
  }
  return comm;
}

NcclComm::~NcclComm() {
  if (std::uncaught_exceptions() > 0) {
    // Unwinding: peers may never finish their part, and finalize would wait
    // for them.
    abort();
    return;
  }
  finish_destroy(start_finalize());
}

void NcclComm::destroy_all(std::vector<std::unique_ptr<NcclComm>>& comms) noexcept {
  std::vector<bool> finalized(comms.size(), false);
  for (std::size_t i = 0; i < comms.size(); ++i) finalized[i] = comms[i]->start_finalize();
  for (std::size_t i = 0; i < comms.size(); ++i) comms[i]->finish_destroy(finalized[i]);
  comms.clear();  // the destructors find nothing left to do
}

bool NcclComm::start_finalize() noexcept {
  std::lock_guard lock(mutex_);
  if (comm_ == nullptr) return false;
  const ncclResult_t status = ncclCommFinalize(comm_);
  return status == ncclSuccess || status == ncclInProgress;
}

void NcclComm::finish_destroy(bool finalized) noexcept {
  std::unique_lock lock(mutex_);
  if (comm_ == nullptr) return;
  bool ok = finalized;
  if (ok) {
    try {
      wait(lock, "ncclCommFinalize", __FILE__, __LINE__);
    } catch (...) {
      ok = false;
    }
  }
  if (comm_ == nullptr) return;  // aborted meanwhile
  if (ok && ncclCommDestroy(comm_) == ncclSuccess) {
    comm_ = nullptr;
    return;
  }
  ncclCommAbort(comm_);  // the only way left to release it
  comm_ = nullptr;
  aborted_ = true;
}

void NcclComm::abort() noexcept {
  std::lock_guard lock(mutex_);
  aborted_ = true;
  if (comm_ == nullptr) return;
  ncclCommAbort(comm_);  // nothing more can be done if this fails
  comm_ = nullptr;
}

void NcclComm::throw_if_aborted(const char* text) const {
  if (aborted_ || comm_ == nullptr) {
    throw NcclAborted(std::string("NCCL communicator on GPU ") + std::to_string(device_) +
                      " was aborted (another rank failed) before " + text);
  }
}

void NcclComm::wait(std::unique_lock<std::mutex>& lock, const char* text, const char* file, int line) {
  for (int polls = 0;; ++polls) {
    throw_if_aborted(text);
    ncclResult_t async = ncclSuccess;
    const ncclResult_t status = ncclCommGetAsyncError(comm_, &async);
    if (status != ncclSuccess) throw_nccl_error(status, "ncclCommGetAsyncError", file, line);
    if (async == ncclSuccess) return;
    if (async != ncclInProgress) throw_nccl_error(async, text, file, line);
    lock.unlock();
    // Enqueueing finishes within microseconds; connecting and initialising
    // can take seconds, so stop spinning a core after a while.
    if (polls < 1000) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    lock.lock();
  }
}

}  // namespace mlopt::parallel::detail
