// Model::analyze: shapes and dtypes of every tensor the frozen graph computes
// at its top level, for one input spec (read by tensor_probe.h).
#include <torch/script.h>

#include "graph_info.h"
#include "mlopt/core/torch_bridge.h"
#include "tensor_probe.h"

namespace mlopt {

ModelInfo Model::analyze(const InputSpec& spec, uint64_t seed) const {
  const auto graph = impl_->frozen.get_method("forward").graph();
  const auto shapes = probe_tensor_shapes(graph, impl_->frozen._ivalue(), make_inputs(*this, spec, seed),
                                          spec.to_string());
  ModelInfo result = impl_->info;
  std::size_t index = 0;
  for_each_node(graph->block(), [&](torch::jit::Node* node, int) {
    auto& info = result.nodes[index++];
    for (std::size_t o = 0; o < node->outputs().size() && o < info.outputs.size(); ++o) {
      const auto it = shapes.find(node->output(o));
      if (it == shapes.end()) continue;
      info.outputs[o].shape = it->second.shape;
      info.outputs[o].dtype = from_scalar_type(it->second.dtype);
    }
  });
  return result;
}

}  // namespace mlopt
