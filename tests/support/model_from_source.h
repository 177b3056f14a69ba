#pragma once
// A module written in TorchScript source, with constant tensors as buffers,
// saved and loaded the way a user's model is (frozen: the tensors become
// graph constants, as parameters would).
#include <torch/script.h>

#include <string>
#include <utility>
#include <vector>

#include "mlopt/core/model.h"
#include "test_support.h"

namespace mlopt::test {

inline Model model_from_source(const ScratchDir& dir, const std::string& source,
                               const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  torch::jit::Module m("Block");
  for (const auto& [name, tensor] : tensors) m.register_buffer(name, tensor);
  m.define(source);
  m.eval();
  const auto file = dir / "block.pt";
  m.save(file.string());
  return Model::load(file);
}

}  // namespace mlopt::test
