#pragma once
// Reading a TorchScript module and its frozen graph into ModelInfo values.
#include <torch/script.h>

#include <functional>

#include "mlopt/core/model_info.h"

namespace mlopt {

// The module tree of an (unfrozen) module: names, types, parameter counts
// and bytes, tensors shared between modules counted once in the totals.
ModuleInfo describe_module_tree(const torch::jit::Module& module);

// The frozen forward: its arguments, output type and nodes.
void describe_forward(const torch::jit::Module& frozen, ModelInfo& info);

// Visits the nodes of `block` depth first (nodes inside If/Loop blocks after
// their owner), with their nesting depth. ModelInfo::nodes uses this order.
void for_each_node(torch::jit::Block* block, const std::function<void(torch::jit::Node*, int)>& visit,
                   int depth = 0);

// The module a node's code came from ("transformer.h.0.attn"), read from
// the call stack that inlining leaves on it; empty for the root's own code.
std::string module_path_of(const torch::jit::Node* node);

// Tensors the forward graph holds as constants (a model mlopt optimized or
// sharded keeps its weights there; traced models keep some too).
std::vector<at::Tensor> graph_tensor_constants(const torch::jit::Module& module);

// "Tensor" for any tensor type, else the TorchScript annotation ("int[]").
std::string type_name(const c10::TypePtr& type);

}  // namespace mlopt
