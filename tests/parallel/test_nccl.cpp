// NCCL communicators against host sums on fresh random data (ctest -L gpu):
// NcclGroup over every visible GPU, over {0}, over 2 GPUs where there are 2;
// nccl_communicator with a world of 1 through an in-memory store; bad device
// lists; a failing rank reported without hanging.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mlopt/kernels/cuda_check.h"
#include "mlopt/kernels/cuda_event.h"
#include "mlopt/kernels/device_query.h"
#include "mlopt/kernels/half_bits.h"
#include "mlopt/parallel/nccl.h"

namespace {

using mlopt::kernels::CudaStream;
using mlopt::kernels::device_count;
using namespace mlopt::parallel;

#define SKIP_WITHOUT_NCCL_GPU()                                      \
  do {                                                               \
    if (!nccl_available()) GTEST_SKIP() << "this build has no NCCL"; \
    if (device_count() == 0) GTEST_SKIP() << "no CUDA device";       \
  } while (0)

// Runs `body` and fails if it takes longer than `limit`. A thread stuck in
// NCCL cannot be stopped, so a hang ends the test program (ctest reports it).
void within(std::chrono::seconds limit, const std::function<void()>& body) {
  auto done = std::make_shared<std::promise<std::exception_ptr>>();
  std::future<std::exception_ptr> result = done->get_future();
  std::thread([done, body] {
    try {
      body();
      done->set_value(nullptr);
    } catch (...) {
      done->set_value(std::current_exception());
    }
  }).detach();
  if (result.wait_for(limit) != std::future_status::ready) {
    std::fprintf(stderr, "test hung for %lld s: ending the test program\n", static_cast<long long>(limit.count()));
    std::fflush(stderr);
    std::_Exit(3);
  }
  if (std::exception_ptr e = result.get()) std::rethrow_exception(e);
}

std::vector<unsigned char> encode(const std::vector<float>& values, ElementType type) {
  std::vector<unsigned char> bytes(values.size() * element_bytes(type));
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (type == ElementType::kFloat32) {
      std::memcpy(bytes.data() + 4 * i, &values[i], 4);
    } else {
      const uint16_t h = type == ElementType::kFloat16 ? mlopt::kernels::float_to_half_bits(values[i])
                                                       : mlopt::kernels::float_to_bf16_bits(values[i]);
      std::memcpy(bytes.data() + 2 * i, &h, 2);
    }
  }
  return bytes;
}

std::vector<float> decode(const std::vector<unsigned char>& bytes, ElementType type) {
  const std::size_t n = bytes.size() / element_bytes(type);
  std::vector<float> values(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (type == ElementType::kFloat32) {
      std::memcpy(&values[i], bytes.data() + 4 * i, 4);
    } else {
      uint16_t h = 0;
      std::memcpy(&h, bytes.data() + 2 * i, 2);
      values[i] =
          type == ElementType::kFloat16 ? mlopt::kernels::half_bits_to_float(h) : mlopt::kernels::bf16_bits_to_float(h);
    }
  }
  return values;
}

// Fresh values in [-1, 1], exactly representable in `type` (so the host sums
// start from what the GPU holds).
std::vector<float> random_values(std::size_t n, ElementType type, std::mt19937& gen) {
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen);
  return decode(encode(v, type), type);
}

// NCCL sums `ranks` values in the element type: up to ranks - 1 roundings of
// sums below `ranks` in magnitude; exact for one rank.
float tolerance(ElementType type, int ranks) {
  const float eps = type == ElementType::kFloat32   ? 1.0f / (1 << 23)
                    : type == ElementType::kFloat16 ? 1.0f / (1 << 10)
                                                    : 1.0f / (1 << 7);
  return static_cast<float>((ranks - 1) * ranks) * eps;
}

void expect_near_all(const std::vector<float>& got, const std::vector<float>& want, float tol,
                     const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  std::size_t bad = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (!(std::abs(got[i] - want[i]) <= tol)) {
      if (++bad <= 5) ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", expected " << want[i];
    }
  }
  EXPECT_EQ(bad, 0u) << what;
}

// Device memory of the current GPU.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t bytes) { MLOPT_CUDA_CHECK(cudaMalloc(&ptr_, bytes == 0 ? 1 : bytes)); }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
};

void upload(void* dst, const std::vector<unsigned char>& src, cudaStream_t stream) {
  MLOPT_CUDA_CHECK(cudaMemcpyAsync(dst, src.data(), src.size(), cudaMemcpyHostToDevice, stream));
}

std::vector<unsigned char> download(const void* src, std::size_t bytes, cudaStream_t stream) {
  std::vector<unsigned char> host(bytes);
  MLOPT_CUDA_CHECK(cudaMemcpyAsync(host.data(), src, bytes, cudaMemcpyDeviceToHost, stream));
  MLOPT_CUDA_CHECK(cudaStreamSynchronize(stream));
  return host;
}

constexpr ElementType kTypes[] = {ElementType::kFloat32, ElementType::kFloat16, ElementType::kBFloat16};
constexpr std::size_t kCounts[] = {7, 1000003};

// Every collective of `run`'s communicators against the host computation.
void check_collectives(const std::function<void(const std::function<void(Communicator&)>&)>& run, int ranks) {
  std::mt19937 gen(std::random_device{}());
  for (ElementType type : kTypes) {
    for (std::size_t count : kCounts) {
      const std::string what =
          std::string(element_name(type)) + " x " + std::to_string(count) + " on " + std::to_string(ranks) + " rank(s)";
      const std::size_t eb = element_bytes(type);
      std::vector<std::vector<float>> inputs;       // count per rank
      std::vector<std::vector<float>> wide_inputs;  // ranks * count per rank (reduce-scatter)
      for (int r = 0; r < ranks; ++r) {
        inputs.push_back(random_values(count, type, gen));
        wide_inputs.push_back(random_values(count * ranks, type, gen));
      }
      std::vector<std::vector<unsigned char>> reduced(ranks), scattered(ranks), gathered(ranks), ringed(ranks);
      run([&](Communicator& comm) {
        const int r = comm.rank();
        ASSERT_EQ(comm.size(), ranks);
        ASSERT_EQ(comm.space(), BufferSpace::kDevice);
        CudaStream stream;
        const cudaStream_t s = stream.get();
        const std::vector<unsigned char> in = encode(inputs[r], type);
        const std::vector<unsigned char> wide = encode(wide_inputs[r], type);

        DeviceBuffer data(in.size());
        upload(data.get(), in, s);
        comm.all_reduce_sum(data.get(), count, type, s);
        reduced[r] = download(data.get(), in.size(), s);

        DeviceBuffer send(wide.size()), recv(count * eb);
        upload(send.get(), wide, s);
        comm.reduce_scatter_sum(send.get(), recv.get(), count, type, s);
        scattered[r] = download(recv.get(), count * eb, s);

        DeviceBuffer mine(in.size()), all(in.size() * ranks);
        upload(mine.get(), in, s);
        comm.all_gather(mine.get(), all.get(), count, type, s);
        gathered[r] = download(all.get(), in.size() * ranks, s);

        // The ring on the legacy default stream (nullptr), as the interface allows.
        DeviceBuffer ring_recv(in.size());
        MLOPT_CUDA_CHECK(cudaMemcpy(mine.get(), in.data(), in.size(), cudaMemcpyHostToDevice));
        comm.ring_exchange(mine.get(), ring_recv.get(), in.size(), nullptr);
        ringed[r] = download(ring_recv.get(), in.size(), nullptr);
      });
      const float tol = tolerance(type, ranks);
      std::vector<float> sum(count, 0.0f), wide_sum(count * ranks, 0.0f);
      for (int r = 0; r < ranks; ++r) {
        for (std::size_t i = 0; i < count; ++i) sum[i] += inputs[r][i];
        for (std::size_t i = 0; i < count * ranks; ++i) wide_sum[i] += wide_inputs[r][i];
      }
      // The host sums are fp32; round them to the element type as NCCL's
      // result is (the tolerance covers NCCL's intermediate roundings).
      sum = decode(encode(sum, type), type);
      wide_sum = decode(encode(wide_sum, type), type);
      std::vector<float> concatenated;
      for (int r = 0; r < ranks; ++r) concatenated.insert(concatenated.end(), inputs[r].begin(), inputs[r].end());
      for (int r = 0; r < ranks; ++r) {
        const std::string at = what + ", rank " + std::to_string(r);
        expect_near_all(decode(reduced[r], type), sum, tol, "all_reduce_sum " + at);
        const std::vector<float> block(wide_sum.begin() + count * r, wide_sum.begin() + count * (r + 1));
        expect_near_all(decode(scattered[r], type), block, tol, "reduce_scatter_sum " + at);
        EXPECT_EQ(decode(gathered[r], type), concatenated) << "all_gather " << at;
        EXPECT_EQ(decode(ringed[r], type), inputs[(r - 1 + ranks) % ranks]) << "ring_exchange " << at;
      }
    }
  }
}

std::vector<int> all_gpus() {
  std::vector<int> devices(device_count());
  for (int i = 0; i < static_cast<int>(devices.size()); ++i) devices[i] = i;
  return devices;
}

void check_group(const std::vector<int>& devices) {
  within(std::chrono::seconds(300), [&] {
    NcclGroup group(devices);
    EXPECT_EQ(group.size(), static_cast<int>(devices.size()));
    check_collectives([&](const std::function<void(Communicator&)>& fn) { group.run(fn); }, group.size());
  });
}

TEST(Nccl, GroupOverEveryVisibleGpuMatchesHostSums) {
  SKIP_WITHOUT_NCCL_GPU();
  check_group(all_gpus());
}

TEST(Nccl, GroupOverGpu0MatchesHostSums) {
  SKIP_WITHOUT_NCCL_GPU();
  check_group({0});
}

TEST(Nccl, GroupOfTwoGpusMatchesHostSums) {
  SKIP_WITHOUT_NCCL_GPU();
  if (device_count() < 2) GTEST_SKIP() << "needs 2 GPUs, " << device_count() << " visible";
  check_group({1, 0});  // rank order need not follow device order
}

void expect_nccl_error(const std::vector<int>& devices, const std::string& part) {
  try {
    NcclGroup group(devices);
    ADD_FAILURE() << "no error for this device list; expected one saying '" << part << "'";
  } catch (const NcclError& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(Nccl, InvalidDeviceListsAreRejected) {
  SKIP_WITHOUT_NCCL_GPU();
  const int n = device_count();
  expect_nccl_error({}, "empty");
  expect_nccl_error({0, 0}, "GPU 0 is listed twice");
  expect_nccl_error({n}, "GPU " + std::to_string(n) + " does not exist");
  expect_nccl_error({-1}, "GPU -1 does not exist");
  expect_nccl_error({0, n + 5}, "GPU " + std::to_string(n + 5) + " does not exist");
}

TEST(Nccl, AFailingRankIsReportedAndTheGroupRefusesLaterRuns) {
  SKIP_WITHOUT_NCCL_GPU();
  within(std::chrono::seconds(120), [] {
    NcclGroup group(all_gpus());
    const int last = group.size() - 1;
    try {
      // The last rank fails before its all-reduce: the others are inside
      // theirs (and then in a stream synchronize) waiting for it, and must be
      // released by the abort.
      group.run([last](Communicator& comm) {
        CudaStream stream;
        DeviceBuffer data(1000003 * sizeof(float));
        MLOPT_CUDA_CHECK(cudaMemsetAsync(data.get(), 0, 1000003 * sizeof(float), stream.get()));
        if (comm.rank() == last) {
          std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the others get into NCCL
          throw std::runtime_error("rank failed on purpose");
        }
        comm.all_reduce_sum(data.get(), 1000003, ElementType::kFloat32, stream.get());
        stream.synchronize();
        comm.all_reduce_sum(data.get(), 1000003, ElementType::kFloat32, stream.get());
        stream.synchronize();
      });
      ADD_FAILURE() << "run() returned although a rank threw";
    } catch (const NcclError& e) {
      ADD_FAILURE() << "the failing rank's error was not the one reported: " << e.what();
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "rank failed on purpose");
    }
    try {
      group.run([](Communicator&) {});
      ADD_FAILURE() << "a group whose rank failed ran again";
    } catch (const NcclError& e) {
      EXPECT_NE(std::string(e.what()).find("rank " + std::to_string(last)), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("create a new NcclGroup"), std::string::npos) << e.what();
    }
  });
  // The GPUs are still usable afterwards: a new group works.
  check_group({0});
}

// The store a single process hands to itself (tests only).
class MemoryStore : public KeyValueStore {
 public:
  void set(const std::string& key, const std::vector<unsigned char>& value) override {
    {
      std::lock_guard lock(mutex_);
      values_[key] = value;
    }
    changed_.notify_all();
  }
  std::vector<unsigned char> get(const std::string& key, std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, timeout, [&] { return values_.count(key) > 0; })) {
      throw std::runtime_error("key '" + key + "' not set within " + std::to_string(timeout.count()) + " ms");
    }
    return values_.at(key);
  }
  std::size_t size() {
    std::lock_guard lock(mutex_);
    return values_.size();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::vector<unsigned char>> values_;
};

TEST(Nccl, ProcessCommunicatorOfAWorldOfOneMatchesHostSums) {
  SKIP_WITHOUT_NCCL_GPU();
  within(std::chrono::seconds(300), [] {
    MemoryStore store;
    World world;  // rank 0 of 1
    std::unique_ptr<Communicator> comm = nccl_communicator(store, world, 0);
    EXPECT_EQ(store.size(), 1u);
    EXPECT_EQ(store.get(kNcclUniqueIdKey, std::chrono::milliseconds(0)).size(), 128u);  // NCCL_UNIQUE_ID_BYTES
    EXPECT_EQ(comm->rank(), 0);
    EXPECT_EQ(comm->size(), 1);
    check_collectives(
        [&](const std::function<void(Communicator&)>& fn) {
          MLOPT_CUDA_CHECK(cudaSetDevice(0));
          fn(*comm);
        },
        1);
  });
}

TEST(Nccl, AMissingRendezvousTimesOutNamingRank0) {
  SKIP_WITHOUT_NCCL_GPU();
  MemoryStore store;  // rank 0 never publishes
  World world;
  world.rank = 1;
  world.world_size = 2;
  world.master_addr = "10.1.2.3";
  world.master_port = 29555;
  try {
    nccl_communicator(store, world, 0, std::chrono::milliseconds(50));
    FAIL() << "no error";
  } catch (const NcclError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("rank 0 did not publish"), std::string::npos) << msg;
    EXPECT_NE(msg.find("MASTER_ADDR=10.1.2.3"), std::string::npos) << msg;
    EXPECT_NE(msg.find("29555"), std::string::npos) << msg;
    EXPECT_NE(msg.find(kNcclUniqueIdKey), std::string::npos) << msg;  // the store's own message
  }
}

}  // namespace
