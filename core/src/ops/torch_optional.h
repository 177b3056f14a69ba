#pragma once
// The optional types libtorch's op dispatch passes for `Tensor?` and
// `float?`: c10::optional in 1.13, std::optional from 2.0 on.
#include <torch/script.h>
#include <torch/version.h>

#include <optional>

namespace mlopt::ops {

#if TORCH_VERSION_MAJOR >= 2
using OptionalTensor = std::optional<at::Tensor>;
using OptionalScale = std::optional<double>;
#else
using OptionalTensor = c10::optional<at::Tensor>;
using OptionalScale = c10::optional<double>;
#endif

}  // namespace mlopt::ops
