#pragma once
// The one macro that checks CUDA runtime calls. It throws CudaError naming
// the call, the error and the source line; kernels code never prints or exits.
#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace mlopt::kernels {

class CudaError : public std::runtime_error {
 public:
  CudaError(cudaError_t code, const std::string& message) : std::runtime_error(message), code_(code) {}
  cudaError_t code() const { return code_; }

 private:
  cudaError_t code_;
};

[[noreturn]] void throw_cuda_error(cudaError_t code, const char* call, const char* file, int line);

}  // namespace mlopt::kernels

#define MLOPT_CUDA_CHECK(call)                                                       \
  do {                                                                               \
    const cudaError_t mlopt_cuda_status_ = (call);                                   \
    if (mlopt_cuda_status_ != cudaSuccess)                                           \
      ::mlopt::kernels::throw_cuda_error(mlopt_cuda_status_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: launch-configuration errors surface here.
#define MLOPT_CUDA_CHECK_LAUNCH() MLOPT_CUDA_CHECK(cudaGetLastError())
