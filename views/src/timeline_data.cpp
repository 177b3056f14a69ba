#include "mlopt/views/timeline_data.h"

#include <algorithm>
#include <limits>
#include <map>
#include <tuple>
#include <unordered_map>

namespace mlopt::views {
namespace {

using profiler::OpEvent;
using profiler::ProfileResult;

// Finds the op (ProfileResult::ops index) of any traced op call: ops are
// summed over top-level calls keyed by (name, module, graph node), and a
// nested call belongs to the top-level call it runs under.
class OpResolver {
 public:
  explicit OpResolver(const ProfileResult& p) {
    for (std::size_t i = 0; i < p.ops.size(); ++i) {
      const auto& o = p.ops[i];
      index_.emplace(std::make_tuple(o.name, o.module_path, o.node_index), static_cast<int>(i));
    }
    for (const auto& e : p.trace_ops) events_.emplace(e.id, &e);
  }

  const OpEvent* event(uint64_t id) const {
    const auto it = events_.find(id);
    return it == events_.end() ? nullptr : it->second;
  }

  int op_of(const OpEvent& e) const {
    const OpEvent* root = &e;
    // Depth bounds the walk, so a malformed parent cycle cannot hang it.
    for (int steps = 0; root->depth > 0 && steps <= e.depth; ++steps) {
      const OpEvent* parent = event(root->parent);
      if (!parent) return -1;
      root = parent;
    }
    if (root->depth != 0) return -1;
    const auto it = index_.find(std::make_tuple(root->name, root->module_path, root->node_index));
    return it == index_.end() ? -1 : it->second;
  }

 private:
  std::map<std::tuple<std::string, std::string, int>, int> index_;
  std::unordered_map<uint64_t, const OpEvent*> events_;
};

int64_t origin_ns(const ProfileResult& p) {
  // The trace holds the last profiled iteration: start there.
  if (!p.iteration_spans_ns.empty()) return p.iteration_spans_ns.back().first;
  int64_t first = std::numeric_limits<int64_t>::max();
  for (const auto& e : p.trace_ops) first = std::min(first, e.start_ns);
  for (const auto& a : p.trace_gpu.gpu) first = std::min(first, a.start_ns);
  return first == std::numeric_limits<int64_t>::max() ? 0 : first;
}

}  // namespace

TimelineData build_timeline(const ProfileResult& p) {
  TimelineData out;
  const OpResolver resolver(p);
  const int64_t origin = origin_ns(p);
  auto us = [origin](int64_t ns) { return static_cast<double>(ns - origin) / 1e3; };
  auto category = [&p](int op) { return op >= 0 ? p.ops[static_cast<std::size_t>(op)].category : std::string(); };

  out.gpu = !p.trace_gpu.gpu.empty();
  if (out.gpu) {
    std::unordered_map<uint32_t, uint64_t> external;  // CUPTI correlation id -> op call id
    for (const auto& c : p.trace_gpu.correlations) external.emplace(c.correlation_id, c.external_id);
    std::map<std::pair<int, uint32_t>, int> lanes;  // (device, stream), in order
    for (const auto& a : p.trace_gpu.gpu) lanes.emplace(std::make_pair(a.device, a.stream), 0);
    for (auto& [key, lane] : lanes) {
      lane = static_cast<int>(out.lanes.size());
      out.lanes.push_back("GPU " + std::to_string(key.first) + " stream " + std::to_string(key.second));
    }
    for (const auto& a : p.trace_gpu.gpu) {
      int op = -1;
      if (const auto ext = external.find(a.correlation_id); ext != external.end()) {
        if (const OpEvent* e = resolver.event(ext->second)) op = resolver.op_of(*e);
      }
      out.bars.push_back({lanes.at({a.device, a.stream}), us(a.start_ns), us(a.end_ns), a.name, op, category(op)});
    }
  } else {
    int deepest = -1;
    for (const auto& e : p.trace_ops) deepest = std::max(deepest, e.depth);
    for (int d = 0; d <= deepest; ++d) {
      out.lanes.push_back(d == 0 ? std::string("CPU ops") : "CPU depth " + std::to_string(d));
    }
    for (const auto& e : p.trace_ops) {
      const int op = resolver.op_of(e);
      out.bars.push_back({e.depth, us(e.start_ns), us(e.end_ns), e.name, op, category(op)});
    }
  }
  std::sort(out.bars.begin(), out.bars.end(), [](const TimelineBar& a, const TimelineBar& b) {
    return a.lane != b.lane ? a.lane < b.lane : a.start_us < b.start_us;
  });
  for (const auto& b : out.bars) out.end_us = std::max(out.end_us, b.end_us);
  if (!p.iteration_spans_ns.empty()) out.end_us = std::max(out.end_us, us(p.iteration_spans_ns.back().second));
  return out;
}

}  // namespace mlopt::views
