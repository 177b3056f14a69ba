#pragma once
// Recording a command's result in a project file (--project FILE).
#include <functional>
#include <string>

#include "mlopt/core/model.h"
#include "mlopt/core/project.h"

namespace mlopt::cli {

// Loads FILE if it exists (a new project otherwise), makes `model` (its
// file, device and dtype) and `spec` the project's subject, lets `add` append
// the result, and saves it atomically. A project from a newer mlopt is
// refused, untouched.
void record_in_project(const std::string& file, const Model& model, const InputSpec& spec,
                       const std::function<void(Project&)>& add);

}  // namespace mlopt::cli
