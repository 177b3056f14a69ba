#include "mlopt/kernels/cuda_check.h"

namespace mlopt::kernels {

void throw_cuda_error(cudaError_t code, const char* call, const char* file, int line) {
  std::string hint;
  if (code == cudaErrorNoDevice || code == cudaErrorInsufficientDriver) {
    hint = " (no usable GPU: check nvidia-smi and CUDA_VISIBLE_DEVICES)";
  } else if (code == cudaErrorMemoryAllocation) {
    hint = " (the GPU is out of memory: use smaller sizes)";
  }
  throw CudaError(code, std::string(cudaGetErrorName(code)) + ": " + cudaGetErrorString(code) + hint + " in " + call +
                            " at " + file + ":" + std::to_string(line));
}

}  // namespace mlopt::kernels
