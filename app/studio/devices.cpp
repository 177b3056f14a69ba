#include "devices.h"

#if MLOPT_TORCH_CUDA
#include "mlopt/kernels/device_query.h"
#endif

namespace mlopt::studio {

QStringList available_devices() {
  QStringList devices{QStringLiteral("cpu")};
#if MLOPT_TORCH_CUDA
  // A CUDA libtorch implies the CUDA engine (the top-level CMakeLists
  // refuses one without the other), so the runtime can be asked directly.
  const int count = kernels::device_count();
  for (int i = 0; i < count; ++i) devices << QStringLiteral("cuda:%1").arg(i);
#endif
  return devices;
}

}  // namespace mlopt::studio
