#pragma once
// Shapes and dtypes of the tensors a graph computes, from one run.
//
// Instead of keeping every intermediate tensor alive (gigabytes for a real
// model), a copy of the graph gets an aten::size and a prim::dtype after each
// tensor-producing top-level node and returns those small values as an extra
// output. Model::analyze and the graph transforms both read shapes this way.
#include <torch/script.h>

#include "mlopt/core/torch_bridge.h"

#include <unordered_map>
#include <vector>

namespace mlopt {

// Runs `graph` (a forward whose first input is the module) once on `self`
// and `inputs`; returns the shape of every tensor output of a top-level
// node and of every tensor input, keyed by the Values of `graph` itself (which is not modified).
// Throws InputSpecError (described with `spec_text`) when the forward fails,
// OutOfMemoryError when the device runs out.
ProbedShapes probe_tensor_shapes(const std::shared_ptr<torch::jit::Graph>& graph, const c10::IValue& self,
                                 std::vector<c10::IValue> inputs, const std::string& spec_text);

}  // namespace mlopt
