// Helpers every pass shares (passes.h).
#include "passes.h"

namespace mlopt {

const ProbedTensor* RewriteContext::shape_of(const torch::jit::Value* v) const {
  if (!shapes) return nullptr;
  const auto it = shapes->find(v);
  return it == shapes->end() ? nullptr : &it->second;
}

}  // namespace mlopt

namespace mlopt::transforms {

void replace_value(torch::jit::Value* original, torch::jit::Value* replacement, const torch::jit::Node* anchor) {
  auto* node = replacement->node();
  if (const auto callstack = anchor->callstack()) node->setCallStack(*callstack);
  if (const auto range = anchor->sourceRange(); range.source()) node->setSourceRange(range);
  replacement->setType(original->type());
  original->replaceAllUsesWith(replacement);
}

}  // namespace mlopt::transforms
