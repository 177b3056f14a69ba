#include "project_update.h"

#include <filesystem>

namespace mlopt::cli {

void update_project(const std::string& file, const std::function<void(Project&)>& change) {
  Project project;
  if (std::filesystem::exists(file)) project = Project::load(file);
  change(project);
  project.save(file);
}

}  // namespace mlopt::cli
