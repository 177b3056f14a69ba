#pragma once
// Recording a command's result in a project file (--project FILE).
#include <functional>
#include <string>

#include "mlopt/core/project.h"

namespace mlopt::cli {

// Loads FILE if it exists (a new project otherwise), lets `change` edit it,
// and saves it atomically. A project from a newer mlopt is refused, untouched.
void update_project(const std::string& file, const std::function<void(Project&)>& change);

}  // namespace mlopt::cli
