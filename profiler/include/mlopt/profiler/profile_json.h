#pragma once
// ProfileResult as JSON (mlopt profile --json, project files) and back.
#include <string>

#include "mlopt/profiler/profile_result.h"

namespace mlopt::profiler {

// `with_trace`: include the last iteration's raw events (for re-exporting a
// trace later); off for compact summaries.
std::string to_json(const ProfileResult& profile, bool with_trace = true, int indent = -1);
// Throws mlopt::UsageError naming what is malformed.
ProfileResult profile_from_json(const std::string& text);

}  // namespace mlopt::profiler
