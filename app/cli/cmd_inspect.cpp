// mlopt inspect MODEL: module tree, parameters, op histogram; with --input,
// every node's output shapes.
#include <algorithm>
#include <iostream>
#include <memory>

#include "commands.h"
#include "format.h"
#include "mlopt/core/model.h"
#include "mlopt/core/project.h"

namespace mlopt::cli {
namespace {

struct InspectOptions {
  std::string model;
  std::vector<std::string> input;
  bool json = false;
  bool nodes = false;
  int depth = 0;
};

void print_tree(const ModuleInfo& m, int level, int max_depth, std::vector<std::vector<std::string>>& rows) {
  const std::string indent(static_cast<std::size_t>(level) * 2, ' ');
  rows.push_back({indent + (m.name.empty() ? "(root)" : m.name), m.type, human_count(m.total_parameters),
                  human_bytes(m.total_bytes)});
  if (max_depth > 0 && level + 1 >= max_depth) return;
  for (const auto& c : m.children) print_tree(c, level + 1, max_depth, rows);
}

void print_text(const ModelInfo& info, const InspectOptions& o) {
  std::string signature = "forward(";
  for (std::size_t i = 0; i < info.inputs.size(); ++i) {
    signature += (i ? ", " : "") + info.inputs[i].name + ": " + info.inputs[i].type;
  }
  signature += ") -> " + info.output_type;
  std::cout << "model       " << info.path << "\n"
            << "libtorch    " << info.torch_version << "\n"
            << "dtype       " << to_string(info.dtype) << "\n"
            << "signature   " << signature << "\n"
            << "parameters  " << human_count(info.root.total_parameters) << " ("
            << human_bytes(info.root.total_bytes) << "), buffers " << human_bytes(info.root.buffer_bytes) << "\n\n";

  std::vector<std::vector<std::string>> rows;
  print_tree(info.root, 0, o.depth, rows);
  std::cout << "Module tree\n" << table({"module", "type", "params", "bytes"}, rows) << "\n";

  const auto hist = info.op_histogram();
  std::vector<std::pair<std::string, int64_t>> ops(hist.begin(), hist.end());
  std::stable_sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  rows.clear();
  for (const auto& [kind, count] : ops) rows.push_back({kind, std::to_string(count)});
  std::cout << "Ops in the frozen graph (" << info.nodes.size() << " nodes, constants left out)\n"
            << table({"op", "count"}, rows);

  if (o.nodes) {
    rows.clear();
    for (const auto& n : info.nodes) {
      if (n.kind == "prim::Constant") continue;
      std::string outs;
      for (const auto& v : n.outputs) {
        if (!outs.empty()) outs += " ";
        outs += v.shape ? to_string(*v.dtype) + shape_string(*v.shape) : v.type;
      }
      rows.push_back({std::string(static_cast<std::size_t>(n.depth) * 2, ' ') + n.kind,
                      n.module_path.empty() ? "(root)" : n.module_path, outs});
    }
    std::cout << "\nNodes\n" << table({"op", "module", "outputs"}, rows, false);
  }
}

}  // namespace

Command add_inspect(CLI::App& app) {
  auto o = std::make_shared<InspectOptions>();
  auto* sub = app.add_subcommand("inspect", "Show a TorchScript model's modules, parameters and ops");
  sub->add_option("model", o->model, "TorchScript file (.pt)")->required();
  sub->add_option("--input", o->input, "Input spec, e.g. ids:int64[1,128]: adds each node's output shapes");
  sub->add_flag("--nodes", o->nodes, "List every node of the frozen graph with its module");
  sub->add_option("--depth", o->depth, "Module tree levels to show (0 = all)")->check(CLI::NonNegativeNumber);
  sub->add_flag("--json", o->json, "Print JSON instead of tables");
  return {sub, [o]() {
            const Model model = Model::load(o->model);
            const ModelInfo info =
                o->input.empty() ? model.info() : model.analyze(InputSpec::parse_all(o->input));
            if (o->json) {
              std::cout << to_json(info) << '\n';
            } else {
              print_text(info, *o);
            }
            return 0;
          }};
}

}  // namespace mlopt::cli
