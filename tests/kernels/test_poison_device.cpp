// Device poisoning against the CPU reference (ctest -L gpu).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "mlopt/kernels/cuda_check.h"
#include "mlopt/kernels/cuda_event.h"
#include "mlopt/kernels/device_query.h"
#include "mlopt/kernels/poison.h"

using namespace mlopt::kernels;

TEST(PoisonDevice, MatchesTheHostReferenceForOddSizes) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  std::mt19937 rng(std::random_device{}());
  CudaStream stream;
  for (std::size_t bytes : {2u, 14u, 16u, 18u, 4096u + 6u, (1u << 20) + 10u}) {
    std::vector<unsigned char> host(bytes + 32);
    for (auto& b : host) b = static_cast<unsigned char>(rng() % 200);  // no 0xFF bytes: nothing starts poisoned
    void* dev = nullptr;
    MLOPT_CUDA_CHECK(cudaMalloc(&dev, host.size()));
    // On the poisoning stream: a plain cudaMemcpy from pageable memory may
    // return before its DMA lands, and the stream does not wait for it.
    MLOPT_CUDA_CHECK(cudaMemcpyAsync(dev, host.data(), host.size(), cudaMemcpyHostToDevice, stream.get()));
    poison_device(dev, bytes, stream.get());
    stream.synchronize();
    std::vector<unsigned char> back(host.size());
    MLOPT_CUDA_CHECK(cudaMemcpy(back.data(), dev, back.size(), cudaMemcpyDeviceToHost));
    MLOPT_CUDA_CHECK(cudaFree(dev));
    std::vector<unsigned char> expected = host;
    poison_host(expected.data(), bytes);
    EXPECT_EQ(back, expected) << bytes << " bytes";
    EXPECT_EQ(count_poisoned_host(back.data(), bytes), bytes / 2);
    // The bytes past the end were left alone.
    EXPECT_EQ(std::memcmp(back.data() + bytes, host.data() + bytes, 32), 0);
  }
}

TEST(PoisonDevice, RejectsBadArguments) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  void* dev = nullptr;
  MLOPT_CUDA_CHECK(cudaMalloc(&dev, 64));
  EXPECT_THROW(poison_device(dev, 3, nullptr), CudaError);
  EXPECT_THROW(poison_device(static_cast<char*>(dev) + 2, 8, nullptr), CudaError);
  MLOPT_CUDA_CHECK(cudaFree(dev));
}

TEST(CudaEvents, MeasureAPositiveInterval) {
  if (device_count() == 0) GTEST_SKIP() << "no CUDA device";
  CudaStream stream;
  CudaEvent begin, end;
  void* dev = nullptr;
  const std::size_t bytes = std::size_t{256} << 20;
  MLOPT_CUDA_CHECK(cudaMalloc(&dev, bytes));
  begin.record(stream.get());
  poison_device(dev, bytes, stream.get());
  end.record(stream.get());
  end.synchronize();
  EXPECT_GT(elapsed_ms(begin, end), 0.0f);
  MLOPT_CUDA_CHECK(cudaFree(dev));
}
