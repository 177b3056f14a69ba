#pragma once
// What the timeline draws, from a profile's last-iteration trace: on a GPU
// profile one lane per device stream with its kernels, copies and memsets;
// on a CPU profile one lane per op nesting depth with the op calls. Every bar
// knows the op it belongs to (an index into ProfileResult::ops): a kernel
// through the op that launched it, a nested op call through the top-level
// call it sits under. Plain values, no Qt: tested without a widget.
#include <string>
#include <vector>

#include "mlopt/profiler/profile_result.h"

namespace mlopt::views {

struct TimelineBar {
  int lane = 0;
  double start_us = 0;  // from the start of the traced iteration
  double end_us = 0;
  std::string name;     // kernel or op name
  int op = -1;          // index into ProfileResult::ops; -1 when not traced to one
  std::string category; // the op's category ("" when op is -1)
};

struct TimelineData {
  bool gpu = false;                 // lanes are GPU streams; false: CPU op depths
  std::vector<std::string> lanes;   // labels, lane 0 first
  std::vector<TimelineBar> bars;    // by lane, then by start
  double end_us = 0;                // the latest end of a bar or of the iteration
};

// Empty (no lanes) when the profile has no trace (e.g. saved without it).
TimelineData build_timeline(const profiler::ProfileResult& profile);

}  // namespace mlopt::views
