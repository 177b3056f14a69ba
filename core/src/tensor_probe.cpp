#include "tensor_probe.h"

#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/runtime/interpreter.h>

#include "graph_info.h"
#include "load_errors.h"
#include "mlopt/core/error.h"
#include "mlopt/core/torch_bridge.h"

namespace mlopt {
namespace {

struct Probe {
  const torch::jit::Value* original;
  torch::jit::Value* size;
  torch::jit::Value* dtype;
};

std::vector<torch::jit::Node*> top_level_nodes(torch::jit::Block* block) {
  std::vector<torch::jit::Node*> nodes;
  for (auto* node : block->nodes()) {
    if (node->kind() != c10::prim::Constant) nodes.push_back(node);
  }
  return nodes;
}

}  // namespace

ProbedShapes probe_tensor_shapes(const std::shared_ptr<torch::jit::Graph>& graph, const c10::IValue& self,
                                 std::vector<c10::IValue> inputs, const std::string& spec_text) {
  const auto copy = graph->copy();
  // Graph::copy keeps the order of nodes, so the i-th top-level node of the
  // copy is the i-th of the original.
  const auto originals = top_level_nodes(graph->block());
  const auto copies = top_level_nodes(copy->block());
  TORCH_INTERNAL_ASSERT(originals.size() == copies.size());

  std::vector<Probe> probes;
  for (std::size_t i = 0; i < copies.size(); ++i) {
    auto* node = copies[i];
    torch::jit::WithInsertPoint after(node->next());
    for (std::size_t o = 0; o < node->outputs().size(); ++o) {
      auto* value = node->output(o);
      if (value->type()->kind() != c10::TypeKind::TensorType) continue;
      probes.push_back({originals[i]->output(o), copy->insert(c10::aten::size, {value}),
                        copy->insert(c10::prim::dtype, {value})});
    }
  }
  std::vector<torch::jit::Value*> collected;
  for (const auto& p : probes) {
    collected.push_back(p.size);
    collected.push_back(p.dtype);
  }
  {
    torch::jit::WithInsertPoint at_end(copy->return_node());
    copy->registerOutput(copy->insertNode(copy->createTuple(collected))->output());
  }

  torch::jit::Code code(copy, "mlopt_probe");
  torch::jit::InterpreterState state(code);
  torch::jit::Stack stack;
  ProbedShapes shapes;
  for (std::size_t i = 0; i < inputs.size() && i + 1 < graph->inputs().size(); ++i) {
    if (inputs[i].isTensor()) {
      const auto& t = inputs[i].toTensor();
      shapes[graph->inputs()[i + 1]] = {t.sizes().vec(), t.scalar_type()};
    }
  }
  stack.push_back(self);
  for (auto& input : inputs) stack.push_back(std::move(input));
  try {
    c10::InferenceMode inference;
    state.run(stack);
  } catch (const std::exception& e) {
    const std::string msg = torch_message(e);
    if (is_out_of_memory(msg)) {
      throw OutOfMemoryError("out of memory running the model with the spec '" + spec_text +
                             "': " + concise_message(msg));
    }
    throw InputSpecError("the model's forward failed on inputs from the spec '" + spec_text +
                         "': " + concise_message(msg) + "; check that the spec's count, dtypes and ranks fit it");
  }

  const auto& values = stack.back().toTupleRef().elements();
  for (std::size_t i = 0; i < probes.size(); ++i) {
    shapes[probes[i].original] = {values[2 * i].toIntVector(),
                                  static_cast<c10::ScalarType>(values[2 * i + 1].toInt())};
  }
  return shapes;
}

}  // namespace mlopt
