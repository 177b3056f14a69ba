#include "mlopt/core/model_info.h"

namespace mlopt {
namespace {

const ModuleInfo* find_in(const ModuleInfo& node, const std::string& path) {
  if (node.path == path) return &node;
  for (const auto& child : node.children) {
    // Descend only into the child whose path prefixes the one sought.
    if (path == child.path || path.rfind(child.path + ".", 0) == 0) return find_in(child, path);
  }
  return nullptr;
}

}  // namespace

std::map<std::string, int64_t> ModelInfo::op_histogram() const {
  std::map<std::string, int64_t> counts;
  for (const auto& node : nodes) {
    if (node.kind != "prim::Constant") ++counts[node.kind];
  }
  return counts;
}

const ModuleInfo* ModelInfo::find_module(const std::string& path) const {
  return find_in(root, path);
}

}  // namespace mlopt
