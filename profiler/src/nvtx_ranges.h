#pragma once
// NVTX ranges for modules and ops, so that an Nsight Systems capture of a
// profiled run shows the model's structure: nested module ranges
// ("transformer" > "h" > "3" > "attn") with op ranges inside. No-ops in a
// build without NVTX; a few nanoseconds each when no tool is attached.
#include <string>
#include <vector>

namespace mlopt::profiler {

void nvtx_push(const char* name);
void nvtx_pop();

// Keeps the open module ranges of one thread in step with the module path of
// the op about to run: pops the modules left, pushes the modules entered.
class NvtxModuleRanges {
 public:
  void enter(const std::string& module_path);
  void close_all();

 private:
  std::vector<std::string> open_;
};

}  // namespace mlopt::profiler
