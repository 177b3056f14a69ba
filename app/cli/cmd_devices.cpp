// mlopt devices: the GPUs this build can use.
#include <iostream>

#include "commands.h"
#include "format.h"

#ifdef MLOPT_KERNELS_HAVE_CUDA
#include "mlopt/kernels/device_query.h"
#endif

namespace mlopt::cli {

Command add_devices(CLI::App& app) {
  auto* sub = app.add_subcommand("devices", "List the CUDA GPUs this build of mlopt can use");
  return {sub, []() {
#ifdef MLOPT_KERNELS_HAVE_CUDA
            const auto devices = kernels::all_devices();
            if (devices.empty()) {
              std::cout << "no CUDA GPU visible (no driver, no device, or CUDA_VISIBLE_DEVICES is empty); "
                           "models run with --device cpu\n";
              return 0;
            }
            std::vector<std::vector<std::string>> rows;
            for (const auto& d : devices) {
              rows.push_back({"cuda:" + std::to_string(d.index), d.name,
                              std::to_string(d.compute_major) + "." + std::to_string(d.compute_minor),
                              std::to_string(d.multiprocessors), human_bytes(d.global_memory_bytes),
                              human_bytes(d.l2_cache_bytes)});
            }
            std::cout << table({"device", "name", "sm", "SMs", "memory", "L2"}, rows);
#else
            std::cout << "this build of mlopt has no CUDA support (configured with MLOPT_WITH_CUDA=OFF)\n";
#endif
            return 0;
          }};
}

}  // namespace mlopt::cli
