// The NCCL backend of Communicator: NcclGroup (one process, one thread per
// GPU) and nccl_communicator (one rank per process, rendezvous via a store).
#include <cuda_runtime_api.h>

#include <cstring>
#include <exception>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "mlopt/kernels/cuda_check.h"
#include "mlopt/parallel/nccl.h"
#include "nccl_check.h"
#include "nccl_comm.h"

namespace mlopt::parallel {
namespace {

using detail::NcclComm;

class NcclCommunicator final : public Communicator {
 public:
  // Borrows `comm` (NcclGroup keeps it) ...
  NcclCommunicator(NcclComm& comm, int rank, int size) : comm_(&comm), rank_(rank), size_(size) {}
  // ... or owns it (nccl_communicator).
  NcclCommunicator(std::unique_ptr<NcclComm> comm, int rank, int size)
      : owned_(std::move(comm)), comm_(owned_.get()), rank_(rank), size_(size) {}

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  BufferSpace space() const override { return BufferSpace::kDevice; }

  void ring_exchange(const void* send, void* recv, std::size_t bytes, void* stream) override {
    if (bytes == 0) return;
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    if (size_ == 1) {
      // Its own neighbour: a device copy, ordered on the stream like NCCL's.
      MLOPT_CUDA_CHECK(cudaMemcpyAsync(recv, send, bytes, cudaMemcpyDeviceToDevice, s));
      return;
    }
    const int next = (rank_ + 1) % size_;
    const int prev = (rank_ - 1 + size_) % size_;
    comm_->enqueue(
        "ncclGroupStart; ncclSend(to rank + 1); ncclRecv(from rank - 1); "
        "ncclGroupEnd",
        __FILE__, __LINE__, [&](ncclComm_t c) {
          // Send and receive in one group: issued separately, every
          // rank would wait in its send for a receive nobody posted.
          const ncclResult_t start = ncclGroupStart();
          if (start != ncclSuccess) return start;
          const ncclResult_t sent = ncclSend(send, bytes, ncclInt8, next, c, s);
          const ncclResult_t received = ncclRecv(recv, bytes, ncclInt8, prev, c, s);
          const ncclResult_t end = ncclGroupEnd();  // always: it closes the group on this thread
          for (ncclResult_t r : {sent, received}) {
            if (r != ncclSuccess && r != ncclInProgress) return r;
          }
          return end;
        });
  }

  void all_reduce_sum(void* data, std::size_t count, ElementType type, void* stream) override {
    if (count == 0) return;
    const ncclDataType_t t = detail::nccl_type(type);
    comm_->enqueue("ncclAllReduce(ncclSum)", __FILE__, __LINE__, [&](ncclComm_t c) {
      return ncclAllReduce(data, data, count, t, ncclSum, c, static_cast<cudaStream_t>(stream));
    });
  }

  void reduce_scatter_sum(const void* send, void* recv, std::size_t recv_count, ElementType type,
                          void* stream) override {
    if (recv_count == 0) return;
    const ncclDataType_t t = detail::nccl_type(type);
    comm_->enqueue("ncclReduceScatter(ncclSum)", __FILE__, __LINE__, [&](ncclComm_t c) {
      return ncclReduceScatter(send, recv, recv_count, t, ncclSum, c, static_cast<cudaStream_t>(stream));
    });
  }

  void all_gather(const void* send, void* recv, std::size_t send_count, ElementType type, void* stream) override {
    if (send_count == 0) return;
    const ncclDataType_t t = detail::nccl_type(type);
    comm_->enqueue("ncclAllGather", __FILE__, __LINE__, [&](ncclComm_t c) {
      return ncclAllGather(send, recv, send_count, t, c, static_cast<cudaStream_t>(stream));
    });
  }

 private:
  std::unique_ptr<NcclComm> owned_;
  NcclComm* comm_;
  int rank_;
  int size_;
};

int visible_devices() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    throw NcclError(std::string("NCCL needs a CUDA device, but the CUDA runtime reports none: ") +
                    cudaGetErrorString(status));
  }
  return count;
}

void check_device(int device, int count) {
  if (device < 0 || device >= count) {
    throw NcclError("GPU " + std::to_string(device) + " does not exist: " + std::to_string(count) +
                    " CUDA device(s) visible (indices 0.." + std::to_string(count - 1) +
                    "; check CUDA_VISIBLE_DEVICES)");
  }
}

}  // namespace

bool nccl_available() { return true; }

struct NcclGroup::State {
  std::vector<int> devices;
  std::vector<std::unique_ptr<NcclComm>> comms;
  // Set when a rank failed: its communicators were aborted.
  bool broken = false;
  std::string broken_reason;
};

NcclGroup::NcclGroup(std::vector<int> devices) : state_(std::make_unique<State>()) {
  if (devices.empty()) throw NcclError("an NCCL group needs at least one GPU; the device list is empty");
  const int count = visible_devices();
  std::set<int> seen;
  for (int d : devices) {
    check_device(d, count);
    // NCCL does not support two ranks of one communicator on one GPU (it
    // hangs or fails): ThreadGroup(kDevice) is the way to simulate ranks.
    if (!seen.insert(d).second) {
      throw NcclError("GPU " + std::to_string(d) +
                      " is listed twice: an NCCL group takes each GPU once "
                      "(simulate ranks on one GPU with "
                      "ThreadGroup and BufferSpace::kDevice)");
    }
  }
  state_->devices = std::move(devices);
  state_->comms = NcclComm::create_group(state_->devices);
}

NcclGroup::~NcclGroup() {
  if (state_) NcclComm::destroy_all(state_->comms);
}

int NcclGroup::size() const { return static_cast<int>(state_->devices.size()); }

void NcclGroup::run(const std::function<void(Communicator&)>& fn) {
  State& s = *state_;
  if (s.broken) {
    throw NcclError("this NCCL group was aborted when " + s.broken_reason +
                    " in an earlier run(); create a new NcclGroup");
  }
  const int n = size();
  std::mutex error_mutex;
  std::exception_ptr error;
  int failed_rank = -1;
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      try {
        MLOPT_CUDA_CHECK(cudaSetDevice(s.devices[r]));
        NcclCommunicator comm(*s.comms[r], r, n);
        fn(comm);
      } catch (const detail::NcclAborted&) {
        // Released by the abort below: the failed rank's error is reported.
      } catch (...) {
        bool first = false;
        {
          std::lock_guard lock(error_mutex);
          if (!error) {
            error = std::current_exception();
            failed_rank = r;
            first = true;
          }
        }
        // Abort every rank's communicator right away, from this thread: ranks
        // waiting for this one in an NCCL kernel (directly, or through a
        // cudaStreamSynchronize on its stream) or in a pending connection
        // return, and their later NCCL calls throw NcclAborted. Errors that
        // follow from the abort come after the one recorded here.
        if (first) {
          for (auto& comm : s.comms) comm->abort();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  if (error) {
    s.broken = true;
    s.broken_reason =
        "rank " + std::to_string(failed_rank) + " (GPU " + std::to_string(s.devices[failed_rank]) + ") failed";
    std::rethrow_exception(error);
  }
}

std::unique_ptr<Communicator> nccl_communicator(KeyValueStore& store, const World& world, int device) {
  return nccl_communicator(store, world, device, std::chrono::seconds(120));
}

std::unique_ptr<Communicator> nccl_communicator(KeyValueStore& store, const World& world, int device,
                                                std::chrono::milliseconds rendezvous_timeout) {
  if (world.world_size < 1 || world.rank < 0 || world.rank >= world.world_size) {
    throw NcclError("invalid world: rank " + std::to_string(world.rank) + " of " + std::to_string(world.world_size));
  }
  check_device(device, visible_devices());
  ncclUniqueId id;
  static_assert(sizeof(id) == NCCL_UNIQUE_ID_BYTES);
  if (world.rank == 0) {
    MLOPT_NCCL_CHECK(ncclGetUniqueId(&id));
    std::vector<unsigned char> bytes(sizeof(id));
    std::memcpy(bytes.data(), &id, sizeof(id));
    store.set(kNcclUniqueIdKey, bytes);
  } else {
    std::vector<unsigned char> bytes;
    try {
      bytes = store.get(kNcclUniqueIdKey, rendezvous_timeout);
    } catch (const std::exception& e) {
      throw NcclError("rank " + std::to_string(world.rank) + " of " + std::to_string(world.world_size) +
                      ": rank 0 did not publish the NCCL unique id within " +
                      std::to_string(rendezvous_timeout.count()) + " ms (check MASTER_ADDR=" + world.master_addr +
                      " and MASTER_PORT=" + std::to_string(world.master_port) +
                      ", and that every rank was started): " + e.what());
    }
    if (bytes.size() != sizeof(id)) {
      throw NcclError("the NCCL unique id from the store has " + std::to_string(bytes.size()) + " bytes, expected " +
                      std::to_string(sizeof(id)) + " (are all ranks the same mlopt build?)");
    }
    std::memcpy(&id, bytes.data(), sizeof(id));
  }
  auto comm = NcclComm::create_rank(id, world.world_size, world.rank, device);
  return std::make_unique<NcclCommunicator>(std::move(comm), world.rank, world.world_size);
}

}  // namespace mlopt::parallel
