#pragma once
// Internal: pieces the rewrites share beyond the graph passes: a model
// around a rewritten module, and verification of any forward against a model.
#include <torch/script.h>

#include <functional>
#include <vector>

#include "mlopt/core/input_spec.h"
#include "mlopt/core/model.h"
#include "mlopt/core/transforms.h"

namespace mlopt {

// `model` with its frozen module replaced (no CUDA-graph capture; the
// module's description refreshed).
Model model_with_module(const Model& model, const torch::jit::Module& module);

// A forward on the original's inputs, run some other way (the ranks of a
// tensor-parallel model together).
using CandidateForward = std::function<c10::IValue(std::vector<c10::IValue>)>;

// verify_outputs with the candidate as a function; the candidate throwing
// mlopt::Error makes a failed Verification.
Verification verify_forward(const Model& original, const InputSpec& spec, const std::vector<uint64_t>& seeds,
                            double tolerance, const CandidateForward& candidate);

}  // namespace mlopt
