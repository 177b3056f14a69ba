#pragma once
// The Chrome trace-event JSON (opens in Perfetto and chrome://tracing) of a
// profile's last iteration: CPU ops on their threads, GPU kernels, copies and
// memsets on their streams, flow arrows from each op to the kernels it
// launched, the CUDA API calls, and a memory counter track.
#include <filesystem>
#include <string>

#include "mlopt/profiler/profile_result.h"

namespace mlopt::profiler {

std::string chrome_trace_json(const ProfileResult& profile);
// Written atomically. Throws mlopt::IoError.
void write_chrome_trace(const ProfileResult& profile, const std::filesystem::path& file);

}  // namespace mlopt::profiler
