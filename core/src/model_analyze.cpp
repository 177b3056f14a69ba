// Model::analyze: shapes and dtypes of every tensor the frozen graph computes
// at its top level, for one input spec.
//
// Instead of keeping every intermediate tensor alive (gigabytes for a real
// model), a copy of the graph gets an aten::size and a prim::dtype after each
// tensor-producing node, and returns those small values as a second output.
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/runtime/interpreter.h>
#include <torch/script.h>

#include "graph_info.h"
#include "load_errors.h"
#include "mlopt/core/error.h"
#include "mlopt/core/torch_bridge.h"

namespace mlopt {
namespace {

struct Probe {
  std::size_t node_index;    // into ModelInfo::nodes
  std::size_t output_index;  // of that node
  torch::jit::Value* size = nullptr;
  torch::jit::Value* dtype = nullptr;
};

}  // namespace

ModelInfo Model::analyze(const InputSpec& spec, uint64_t seed) const {
  const auto graph = impl_->frozen.get_method("forward").graph()->copy();

  std::vector<std::pair<torch::jit::Node*, std::size_t>> top_level;  // node, index in info.nodes
  std::size_t index = 0;
  for_each_node(graph->block(), [&](torch::jit::Node* node, int depth) {
    if (depth == 0 && node->kind() != c10::prim::Constant) top_level.emplace_back(node, index);
    ++index;
  });

  std::vector<Probe> probes;
  for (const auto& [node, node_index] : top_level) {
    torch::jit::WithInsertPoint after(node->next());
    for (std::size_t o = 0; o < node->outputs().size(); ++o) {
      auto* value = node->output(o);
      if (value->type()->kind() != c10::TypeKind::TensorType) continue;
      Probe p{node_index, o};
      p.size = graph->insert(c10::aten::size, {value});
      p.dtype = graph->insert(c10::prim::dtype, {value});
      probes.push_back(p);
    }
  }
  std::vector<torch::jit::Value*> collected;
  for (const auto& p : probes) {
    collected.push_back(p.size);
    collected.push_back(p.dtype);
  }
  {
    torch::jit::WithInsertPoint at_end(graph->return_node());
    graph->registerOutput(graph->insertNode(graph->createTuple(collected))->output());
  }

  torch::jit::Code code(graph, "mlopt_analyze");
  torch::jit::InterpreterState state(code);
  torch::jit::Stack stack;
  stack.emplace_back(impl_->frozen._ivalue());
  for (auto& input : make_inputs(*this, spec, seed)) stack.push_back(std::move(input));
  try {
    c10::InferenceMode inference;
    state.run(stack);
  } catch (const std::exception& e) {
    const std::string msg = torch_message(e);
    if (is_out_of_memory(msg)) {
      throw OutOfMemoryError("out of memory analyzing the model with the spec '" + spec.to_string() + "': " +
                             concise_message(msg));
    }
    throw InputSpecError("the model's forward failed on inputs from the spec '" + spec.to_string() +
                         "': " + concise_message(msg) + "; check that the spec's count, dtypes and ranks fit it");
  }

  ModelInfo result = impl_->info;
  const auto& values = stack.back().toTupleRef().elements();
  for (std::size_t i = 0; i < probes.size(); ++i) {
    auto& out = result.nodes[probes[i].node_index].outputs[probes[i].output_index];
    out.shape = values[2 * i].toIntVector();
    out.dtype = from_scalar_type(static_cast<c10::ScalarType>(values[2 * i + 1].toInt()));
  }
  return result;
}

}  // namespace mlopt
