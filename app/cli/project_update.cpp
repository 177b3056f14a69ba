#include "project_update.h"

#include <filesystem>

namespace mlopt::cli {

void record_in_project(const std::string& file, const Model& model, const InputSpec& spec,
                       const std::function<void(Project&)>& add) {
  Project project;
  if (std::filesystem::exists(file)) project = Project::load(file);
  project.model_path = std::filesystem::absolute(model.info().path);
  project.input_spec = spec;
  project.device = model.options().device;
  project.dtype = model.info().dtype;
  add(project);
  project.save(file);
}

}  // namespace mlopt::cli
