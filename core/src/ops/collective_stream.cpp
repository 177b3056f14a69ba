#include "collective_ops.h"

#if MLOPT_TORCH_CUDA
#include <c10/cuda/CUDAStream.h>
#endif

namespace mlopt::ops {

void* collective_stream(const at::Tensor& t) {
#if MLOPT_TORCH_CUDA
  if (t.is_cuda()) return c10::cuda::getCurrentCUDAStream(t.device().index()).stream();
#endif
  (void)t;
  return nullptr;
}

}  // namespace mlopt::ops
