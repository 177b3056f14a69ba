#pragma once
// The stream a collective on a GPU tensor is ordered on: libtorch's current
// stream of the tensor's device (null, never used, without CUDA libtorch).
#include <torch/script.h>

namespace mlopt::ops {
void* collective_stream(const at::Tensor& t);
}
