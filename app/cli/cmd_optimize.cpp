// mlopt optimize MODEL --input SPEC [--flash-attention] [--fused-mlp] -o OUT.pt:
// rewrite the model to call mlopt's kernels, verify, save.
#include <iostream>
#include <memory>

#include "commands.h"
#include "model_options.h"
#include "mlopt/core/project.h"
#include "mlopt/core/transforms.h"
#include "project_update.h"
#include "transform_flags.h"

namespace mlopt::cli {
namespace {

struct OptimizeCliOptions : ModelRunOptions {
  TransformFlags transforms;
  std::string output, project;
  bool json = false;
};

}  // namespace

Command add_optimize(CLI::App& app) {
  auto o = std::make_shared<OptimizeCliOptions>();
  auto* sub = app.add_subcommand(
      "optimize", "Rewrite a model's attention/MLP blocks to call mlopt's kernels, verify the outputs, save it");
  add_model_run_options(sub, *o, "(unused)");
  add_transform_flags(sub, o->transforms);
  sub->add_option("-o,--output", o->output, "TorchScript file to write (.pt); it loads wherever mlopt is")
      ->required();
  sub->add_flag("--json", o->json, "Print the outcomes as JSON");
  sub->add_option("--project", o->project, "Also record the outcomes in this project file (.mlopt)");
  return {sub, [o]() {
            const InputSpec spec = o->spec();
            const auto options = o->transforms.options();
            const Model model = o->load_model();
            const auto result = apply_transforms(model, spec, options);
            save_model(result.model, o->output);
            if (o->json) {
              std::cout << to_json(result.outcomes) << '\n';
            } else {
              print_outcomes(result.outcomes);
              const auto variant = applied_variant(result.outcomes);
              std::cout << "saved " << o->output << " ("
                        << (variant.empty() ? "no transform kept: the model as loaded" : variant) << ")\n";
              if (options.cuda_graphs) {
                std::cout << "note: a CUDA graph is captured in the running process and cannot be stored in a "
                             "TorchScript file; `mlopt compare --cuda-graphs` measures it\n";
              }
            }
            if (!o->project.empty()) {
              record_in_project(o->project, model, spec,
                                [&](Project& p) { record_outcomes(p, result.outcomes); });
            }
            return 0;
          }};
}

}  // namespace mlopt::cli
