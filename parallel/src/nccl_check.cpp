#include "nccl_check.h"

#include <string>

namespace mlopt::parallel::detail {

void throw_nccl_error(ncclResult_t code, const char* call, const char* file, int line) {
  std::string message = std::string("NCCL call ") + call + " failed: " + ncclGetErrorString(code);
  // The last error's text says which peer, transport or CUDA call failed; the
  // comm argument is unused by NCCL, so this is safe after an abort too.
  const char* last = ncclGetLastError(nullptr);
  if (last != nullptr && last[0] != '\0') message += std::string(" (") + last + ")";
  message += std::string(" at ") + file + ":" + std::to_string(line);
  throw NcclError(message);
}

ncclDataType_t nccl_type(ElementType type) {
  switch (type) {
    case ElementType::kFloat32: return ncclFloat32;
    case ElementType::kFloat16: return ncclFloat16;
    case ElementType::kBFloat16: return ncclBfloat16;
  }
  throw NcclError(std::string("no NCCL type for element type ") + element_name(type));
}

}  // namespace mlopt::parallel::detail
