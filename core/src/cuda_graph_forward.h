#pragma once
// The cuda_graphs transform's replacement forward: the whole forward
// captured once as a CUDA graph (libtorch's at::cuda::CUDAGraph) for one set
// of input shapes, then replayed. Only in builds against a CUDA libtorch.
#include <memory>
#include <vector>

#include "mlopt/core/torch_bridge.h"

namespace mlopt {

// Warms `model`'s forward up on a side stream (TorchScript's profiling
// executor settles on its optimized graph in the first runs, and fusion
// kernels compile there), then captures one forward on `inputs`' shapes.
// Throws RuntimeError naming libtorch's reason when the forward cannot be
// captured (an op that synchronises with the CPU, such as .item() or
// nonzero(), or a model on the CPU).
std::shared_ptr<ForwardReplacement> capture_cuda_graph(const Model& model, const std::vector<c10::IValue>& inputs,
                                                       int warmup = 3);

}  // namespace mlopt
