// ModelInfo as JSON (inspect --json, reports).
#include <nlohmann/json.hpp>

#include "mlopt/core/project.h"

namespace mlopt {

using nlohmann::json;

static json module_json(const ModuleInfo& m) {
  json children = json::array();
  for (const auto& c : m.children) children.push_back(module_json(c));
  return {{"name", m.name},
          {"path", m.path},
          {"type", m.type},
          {"own_parameters", m.own_parameters},
          {"own_bytes", m.own_bytes},
          {"total_parameters", m.total_parameters},
          {"total_bytes", m.total_bytes},
          {"buffer_bytes", m.buffer_bytes},
          {"children", children}};
}

std::string to_json(const ModelInfo& info, int indent) {
  json inputs = json::array();
  for (const auto& a : info.inputs) {
    json arg = {{"name", a.name}, {"type", a.type}, {"has_default", a.has_default}};
    if (a.embedding_rows) arg["embedding_rows"] = *a.embedding_rows;
    inputs.push_back(arg);
  }
  json nodes = json::array();
  for (const auto& n : info.nodes) {
    json outputs = json::array();
    for (const auto& o : n.outputs) {
      json out = {{"name", o.name}, {"type", o.type}};
      if (o.shape) out["shape"] = *o.shape;
      if (o.dtype) out["dtype"] = to_string(*o.dtype);
      outputs.push_back(out);
    }
    nodes.push_back({{"kind", n.kind}, {"module", n.module_path}, {"depth", n.depth}, {"inputs", n.inputs},
                     {"outputs", outputs}});
  }
  json j = {{"path", info.path},
            {"torch_version", info.torch_version},
            {"dtype", to_string(info.dtype)},
            {"device", to_string(info.device)},
            {"inputs", inputs},
            {"output_type", info.output_type},
            {"modules", module_json(info.root)},
            {"op_histogram", info.op_histogram()},
            {"nodes", nodes}};
  return j.dump(indent);
}

}  // namespace mlopt
