#pragma once
// Plain values describing a loaded model: the module tree and the frozen
// graph. No libtorch types, so the CLI, the GUI and reports can use them.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mlopt/core/dtype.h"

namespace mlopt {

struct ModuleInfo {
  std::string name;   // attribute name in the parent ("h", "0", "attn"); "" for the root
  std::string path;   // dotted path from the root ("transformer.h.0.attn"); "" for the root
  std::string type;   // TorchScript class name without the __torch__ prefix and mangling
  int64_t own_parameters = 0;  // elements in this module's own parameters
  int64_t own_bytes = 0;
  int64_t total_parameters = 0;  // this subtree, tensors shared between modules counted once
  int64_t total_bytes = 0;
  int64_t buffer_bytes = 0;      // this subtree's buffers (masks, rotary tables, ...)
  std::vector<ModuleInfo> children;
};

struct ValueInfo {
  std::string name;  // the graph value's debug name (e.g. "x.1")
  std::string type;  // TorchScript type ("Tensor", "int[]", ...)
  // Filled by Model::analyze(spec) for tensor values computed at the top level.
  std::optional<std::vector<int64_t>> shape;
  std::optional<DType> dtype;
};

struct NodeInfo {
  std::string kind;         // "aten::matmul", "prim::ListConstruct", ...
  std::string module_path;  // module whose code created it ("transformer.h.3.attn"; "" = root)
  std::vector<std::string> inputs;  // debug names of the input values
  std::vector<ValueInfo> outputs;
  int depth = 0;            // 0 = top-level graph, >0 inside If/Loop blocks
};

struct ArgumentInfo {
  std::string name;
  std::string type;
  bool has_default = false;
  // Rows of the embedding table this argument indexes directly, if any: the
  // default range for random token ids.
  std::optional<int64_t> embedding_rows;
};

struct ModelInfo {
  std::string path;             // the file it was loaded from
  std::string torch_version;    // of the libtorch that loaded it
  DType dtype = DType::F32;     // of its floating-point parameters
  Device device;
  ModuleInfo root;
  std::vector<ArgumentInfo> inputs;  // forward's arguments, without self
  std::string output_type;
  std::vector<NodeInfo> nodes;       // the frozen forward graph, depth first

  // Node kinds and counts, prim::Constant left out (constants are data).
  std::map<std::string, int64_t> op_histogram() const;
  // Finds a module by dotted path; nullptr if there is none.
  const ModuleInfo* find_module(const std::string& path) const;
};

}  // namespace mlopt
