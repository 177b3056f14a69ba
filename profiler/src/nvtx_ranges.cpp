#include "nvtx_ranges.h"

#if MLOPT_HAVE_NVTX
#include <nvtx3/nvToolsExt.h>
#endif

namespace mlopt::profiler {

void nvtx_push(const char* name) {
#if MLOPT_HAVE_NVTX
  nvtxRangePushA(name);
#else
  (void)name;
#endif
}

void nvtx_pop() {
#if MLOPT_HAVE_NVTX
  nvtxRangePop();
#endif
}

void NvtxModuleRanges::enter(const std::string& module_path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (!module_path.empty()) {
    const auto dot = module_path.find('.', start);
    parts.push_back(module_path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  std::size_t common = 0;
  while (common < open_.size() && common < parts.size() && open_[common] == parts[common]) ++common;
  while (open_.size() > common) {
    nvtx_pop();
    open_.pop_back();
  }
  for (std::size_t i = common; i < parts.size(); ++i) {
    nvtx_push(parts[i].c_str());
    open_.push_back(parts[i]);
  }
}

void NvtxModuleRanges::close_all() {
  while (!open_.empty()) {
    nvtx_pop();
    open_.pop_back();
  }
}

}  // namespace mlopt::profiler
