#include "graph_info.h"

#include <regex>
#include <unordered_set>

#include "mlopt/core/torch_bridge.h"

namespace mlopt {
namespace {

// "__torch__.transformers.models.gpt2.___torch_mangle_3.GPT2Block" -> "GPT2Block":
// users know their classes by the short name, as PyTorch prints them.
std::string short_class_name(const torch::jit::Module& module) {
  const auto name = module.type()->name();
  if (!name) return "Module";
  std::string qualified = name->qualifiedName();
  const auto dot = qualified.rfind('.');
  return dot == std::string::npos ? qualified : qualified.substr(dot + 1);
}

using TensorSet = std::unordered_set<const c10::TensorImpl*>;

ModuleInfo describe(const torch::jit::Module& module, const std::string& name, const std::string& path,
                    TensorSet& subtree_params, TensorSet& subtree_buffers) {
  ModuleInfo info;
  info.name = name;
  info.path = path;
  info.type = short_class_name(module);
  for (const auto& p : module.named_parameters(/*recurse=*/false)) {
    info.own_parameters += p.value.numel();
    info.own_bytes += p.value.numel() * static_cast<int64_t>(p.value.element_size());
    subtree_params.insert(p.value.unsafeGetTensorImpl());
  }
  for (const auto& b : module.named_buffers(/*recurse=*/false)) {
    subtree_buffers.insert(b.value.unsafeGetTensorImpl());
  }
  for (const auto& child : module.named_children()) {
    TensorSet child_params, child_buffers;
    info.children.push_back(describe(child.value, child.name, path.empty() ? child.name : path + "." + child.name,
                                     child_params, child_buffers));
    subtree_params.insert(child_params.begin(), child_params.end());
    subtree_buffers.insert(child_buffers.begin(), child_buffers.end());
  }
  for (const auto* impl : subtree_params) {
    info.total_parameters += impl->numel();
    info.total_bytes += impl->numel() * static_cast<int64_t>(impl->itemsize());
  }
  for (const auto* impl : subtree_buffers) {
    info.buffer_bytes += impl->numel() * static_cast<int64_t>(impl->itemsize());
  }
  return info;
}

}  // namespace

// The module a node's code came from, from the call stack that inlining
// leaves on it: "transformer" + "h" ... joined with dots.
std::string module_path_of(const torch::jit::Node* node) {
  const auto callstack = node->callstack();
  if (!callstack) return {};
  std::string path;
  for (const auto& entry : (*callstack)->vec()) {
    const auto& instance = std::get<2>(entry);
    if (!instance || instance->instance_name().empty()) continue;
    path += (path.empty() ? "" : ".") + instance->instance_name();
  }
  return path;
}

std::string type_name(const c10::TypePtr& type) {
  if (type->kind() == c10::TypeKind::TensorType) return "Tensor";
  return type->annotation_str();
}

ModuleInfo describe_module_tree(const torch::jit::Module& module) {
  TensorSet params, buffers;
  return describe(module, "", "", params, buffers);
}

void for_each_node(torch::jit::Block* block, const std::function<void(torch::jit::Node*, int)>& visit, int depth) {
  for (auto* node : block->nodes()) {
    visit(node, depth);
    for (auto* sub : node->blocks()) for_each_node(sub, visit, depth + 1);
  }
}

void describe_forward(const torch::jit::Module& frozen, ModelInfo& info) {
  auto method = frozen.get_method("forward");
  const auto& schema = method.function().getSchema();
  const auto graph = method.graph();
  const auto& args = schema.arguments();
  // Argument 0 is `self`.
  for (std::size_t i = 1; i < args.size(); ++i) {
    ArgumentInfo arg;
    arg.name = args[i].name();
    arg.type = type_name(args[i].type());
    arg.has_default = args[i].default_value().has_value();
    info.inputs.push_back(arg);
  }
  info.output_type = schema.returns().size() == 1 ? type_name(schema.returns()[0].type()) : "tuple";

  const auto embedding = c10::Symbol::fromQualString("aten::embedding");
  for_each_node(graph->block(), [&](torch::jit::Node* node, int depth) {
    NodeInfo n;
    n.kind = node->kind().toQualString();
    n.module_path = module_path_of(node);
    n.depth = depth;
    for (const auto* v : node->inputs()) n.inputs.push_back(v->debugName());
    for (const auto* v : node->outputs()) n.outputs.push_back({v->debugName(), type_name(v->type()), {}, {}});
    info.nodes.push_back(std::move(n));

    // Token ids that index an embedding directly get its row count as their
    // default random range.
    if (node->kind() == embedding && node->inputs().size() >= 2 && node->input(1)->node()->kind() == c10::prim::Param) {
      const auto weight = torch::jit::toIValue(node->input(0));
      const auto index = node->input(1)->offset();
      if (weight && weight->isTensor() && index >= 1 && index < args.size()) {
        auto& rows = info.inputs[index - 1].embedding_rows;
        const int64_t r = weight->toTensor().size(0);
        rows = rows ? std::min(*rows, r) : r;
      }
    }
  });
}

// Module::to() does not move graph constants, so a file holding them is
// loaded straight onto its device (model_load.cpp).
std::vector<at::Tensor> graph_tensor_constants(const torch::jit::Module& module) {
  std::vector<at::Tensor> tensors;
  for (const auto* node : module.get_method("forward").graph()->nodes()) {
    if (node->kind() != c10::prim::Constant || node->output()->type()->kind() != c10::TypeKind::TensorType) continue;
    if (const auto value = torch::jit::toIValue(node->output()); value && value->isTensor()) {
      tensors.push_back(value->toTensor());
    }
  }
  return tensors;
}

}  // namespace mlopt
