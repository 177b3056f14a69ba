#pragma once
// Calls mlopt::flash_attention through the dispatcher, as a transformed graph
// would (tests of the CPU and CUDA kernels share it).
#include <torch/script.h>

namespace mlopt::test {

inline at::Tensor flash_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("mlopt::flash_attention", "")
                             .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, bool,
                                               decltype(c10::IValue().toOptional<double>()))>();
  return op.call(q, k, v, causal, {});
}

}  // namespace mlopt::test
