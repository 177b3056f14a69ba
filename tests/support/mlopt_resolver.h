#pragma once
// Lets TorchScript source written in C++ name mlopt's ops as `mlopt.name`
// (saved files spell them ops.mlopt.name, which their importer resolves):
//   module.define(source, std::make_shared<mlopt::test::MloptResolver>());
#include <torch/csrc/jit/frontend/resolver.h>
#include <torch/csrc/jit/frontend/sugared_value.h>
#include <torch/script.h>

#include <memory>
#include <string>

namespace mlopt::test {

struct MloptResolver : torch::jit::Resolver {
  std::shared_ptr<torch::jit::SugaredValue> resolveValue(const std::string& name, torch::jit::GraphFunction& fn,
                                                          const torch::jit::SourceRange& loc) override {
    if (name == "mlopt") return std::make_shared<torch::jit::BuiltinModule>("mlopt");
    return torch::jit::nativeResolver()->resolveValue(name, fn, loc);
  }
  c10::TypePtr resolveType(const std::string& name, const torch::jit::SourceRange& loc) override {
    return torch::jit::nativeResolver()->resolveType(name, loc);
  }
};

}  // namespace mlopt::test
