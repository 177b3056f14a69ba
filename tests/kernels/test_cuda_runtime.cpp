// CUDA runtime wrappers that must behave on machines without a GPU too.
#include <gtest/gtest.h>

#include "mlopt/kernels/cuda_check.h"
#include "mlopt/kernels/device_query.h"

using namespace mlopt::kernels;

TEST(CudaRuntime, DeviceCountNeverThrows) {
  const int n = device_count();
  EXPECT_GE(n, 0);
  EXPECT_EQ(static_cast<int>(all_devices().size()), n);
}

TEST(CudaRuntime, CheckMacroThrowsWithTheCallAndLocation) {
  try {
    MLOPT_CUDA_CHECK(cudaSetDevice(1 << 20));
    FAIL() << "no error";
  } catch (const CudaError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cudaSetDevice"), std::string::npos) << msg;
    EXPECT_NE(msg.find("test_cuda_runtime.cpp"), std::string::npos) << msg;
    EXPECT_NE(e.code(), cudaSuccess);
  }
}

TEST(CudaRuntime, PropertiesOfAnInvalidDeviceThrow) {
  EXPECT_THROW(device_properties(device_count() + 3), CudaError);
}
