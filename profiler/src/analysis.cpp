// Aggregation and ranking of a profile's events.
#include "analysis.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>

#include "mlopt/core/units.h"

namespace mlopt::profiler {
namespace {

// Share of a ceiling that a well-written fused kernel reaches: the
// flash-attention and fused-MLP estimates assume this, not the peak.
constexpr double kAttentionEfficiency = 0.6;
constexpr double kGemmEfficiency = 0.75;
constexpr double kFusedEfficiency = 0.7;  // ops fused into neighbours (norms, elementwise; per-module savings)
constexpr double kGraphReplayRecovery = 0.8;  // of idle time that CUDA graphs remove

using EventIndex = std::unordered_map<uint64_t, const OpEvent*>;

const OpEvent* root_of(const OpEvent* e, const EventIndex& by_id) {
  while (e && e->depth > 0) {
    auto it = by_id.find(e->parent);
    if (it == by_id.end()) break;
    e = it->second;
  }
  return e;
}

std::string truncate_path(const std::string& path, int depth) {
  if (path.empty()) return "(root)";
  std::size_t pos = 0;
  for (int i = 0; i < depth; ++i) {
    pos = path.find('.', pos);
    if (pos == std::string::npos) return path;
    ++pos;
  }
  return path.substr(0, pos - 1);
}

bool is_gemm(const std::string& op) {
  return op == "aten::linear" || op == "aten::addmm" || op == "aten::matmul" || op == "aten::mm" ||
         op == "aten::bmm" || op == "aten::baddbmm";
}

bool is_projection(const OpEvent& e) {
  if (e.name == "aten::linear" || e.name == "aten::addmm" || e.name == "aten::mm") return true;
  // x @ W with a 2-D weight is a projection; batched q @ k^T is attention proper.
  return e.name == "aten::matmul" && e.inputs.size() >= 2 && e.inputs[1].shape.size() == 2;
}

int iteration_of(int64_t t, const std::vector<std::pair<int64_t, int64_t>>& spans) {
  for (std::size_t i = 0; i < spans.size(); ++i) {
    if (t >= spans[i].first && t < spans[i].second) return static_cast<int>(i);
  }
  return -1;
}

struct KernelRef {
  const GpuActivity* activity;
  const OpEvent* op;    // innermost op that launched it, or null
  const OpEvent* root;  // its top-level op
  std::string category;
};

// Splits each instant of kernel activity among the kernels running then, so
// per-category times never exceed the wall time even with concurrent streams.
std::map<std::string, double> sweep_busy_ns(const std::vector<KernelRef>& kernels, int64_t begin, int64_t end,
                                            const std::function<std::string(const KernelRef&)>& key,
                                            double& busy_ns) {
  struct Edge {
    int64_t t;
    int delta;
    std::size_t k;
  };
  std::vector<Edge> edges;
  for (std::size_t i = 0; i < kernels.size(); ++i) {
    const auto s = std::max(kernels[i].activity->start_ns, begin);
    const auto e = std::min(kernels[i].activity->end_ns, end);
    if (e <= s) continue;
    edges.push_back({s, +1, i});
    edges.push_back({e, -1, i});
  }
  std::sort(edges.begin(), edges.end(), [](const Edge& a, const Edge& b) {
    return a.t != b.t ? a.t < b.t : a.delta < b.delta;
  });
  std::map<std::string, double> per_key;
  std::set<std::size_t> active;
  int64_t last = 0;
  for (const auto& edge : edges) {
    if (!active.empty() && edge.t > last) {
      const double slice = static_cast<double>(edge.t - last);
      busy_ns += slice;
      for (auto k : active) per_key[key(kernels[k])] += slice / static_cast<double>(active.size());
    }
    if (edge.delta > 0) active.insert(edge.k);
    else active.erase(edge.k);
    last = edge.t;
  }
  return per_key;
}

Bound majority_bound(const std::map<Bound, double>& time_by_bound) {
  Bound best = Bound::Unknown;
  double most = 0;
  for (const auto& [b, t] : time_by_bound) {
    if (t > most) {
      most = t;
      best = b;
    }
  }
  return best;
}

double seconds_at(double flops, double efficiency, const DeviceCeilings& c) {
  return c.matmul_tflops > 0 ? flops / (c.matmul_tflops * 1e12 * efficiency) : 0;
}

}  // namespace

void analyze_profile(AnalysisInput in, ProfileResult& out) {
  const ModelInfo& model = *in.model;
  const double iterations = static_cast<double>(std::max<std::size_t>(1, in.iteration_spans.size()));
  const int depth = in.module_depth > 0 ? in.module_depth : default_module_depth(model);

  out.attributed_op_share = attribute_events(in.events, model);
  for (auto& e : in.events) e.cost = op_cost(e.name, e.inputs);
  EventIndex by_id;
  for (const auto& e : in.events) by_id[e.id] = &e;

  // --- kernels to ops ---------------------------------------------------------
  std::unordered_map<uint32_t, uint64_t> external_of;  // correlation id -> op id
  for (const auto& c : in.trace.correlations) external_of[c.correlation_id] = c.external_id;
  std::vector<KernelRef> kernels;
  double kernel_ns = 0, correlated_ns = 0;
  for (const auto& a : in.trace.gpu) {
    // Records CUPTI could not time (start = end = 0) fall outside every span.
    if (a.end_ns <= a.start_ns || iteration_of(a.start_ns, in.iteration_spans) < 0) continue;
    if (a.device != in.device) continue;  // another rank's GPU in a parallel run
    KernelRef k{&a, nullptr, nullptr, kIdle};
    auto ext = external_of.find(a.correlation_id);
    if (ext != external_of.end()) {
      auto op = by_id.find(ext->second);
      if (op != by_id.end()) {
        k.op = op->second;
        k.root = root_of(k.op, by_id);
      }
    }
    k.category = k.root ? category_of(k.root->name, k.root->module_path) : kOther;
    const double d = static_cast<double>(a.end_ns - a.start_ns);
    kernel_ns += d;
    if (k.root) correlated_ns += d;
    kernels.push_back(k);
  }
  out.correlated_kernel_share = kernel_ns > 0 ? correlated_ns / kernel_ns : (in.gpu ? 0 : 1);
  out.dropped_records = in.trace.dropped_records;

  // --- time per category and module -------------------------------------------
  std::map<std::string, double> category_ns, module_ns;
  double busy_ns = 0, span_ns = 0;
  for (const auto& [begin, end] : in.iteration_spans) {
    span_ns += static_cast<double>(end - begin);
    if (in.gpu) {
      double busy = 0;
      for (const auto& [c, t] : sweep_busy_ns(kernels, begin, end, [](const KernelRef& k) { return k.category; }, busy)) {
        category_ns[c] += t;
      }
      double ignored = 0;
      for (const auto& [m, t] : sweep_busy_ns(kernels, begin, end,
                                              [depth](const KernelRef& k) {
                                                return k.root ? truncate_path(k.root->module_path, depth)
                                                              : std::string("(uncorrelated)");
                                              },
                                              ignored)) {
        module_ns[m] += t;
      }
      busy_ns += busy;
    } else {
      for (const auto& e : in.events) {
        if (e.depth != 0 || e.start_ns < begin || e.start_ns >= end) continue;
        const double t = static_cast<double>(std::min(e.end_ns, end) - e.start_ns);
        category_ns[category_of(e.name, e.module_path)] += t;
        module_ns[truncate_path(e.module_path, depth)] += t;
        busy_ns += t;
      }
    }
  }
  category_ns[kIdle] += std::max(0.0, span_ns - busy_ns);
  out.gpu_busy_us = in.gpu ? busy_ns / iterations / 1e3 : 0;

  // --- ops --------------------------------------------------------------------
  std::unordered_map<uint64_t, double> gpu_ns_of_root, kernels_of_root;
  for (const auto& k : kernels) {
    if (!k.root) continue;
    gpu_ns_of_root[k.root->id] += static_cast<double>(k.activity->end_ns - k.activity->start_ns);
    kernels_of_root[k.root->id] += 1;
  }
  std::unordered_map<uint64_t, double> child_ns;
  for (const auto& e : in.events) {
    if (e.depth > 0) child_ns[e.parent] += static_cast<double>(e.end_ns - e.start_ns);
  }
  std::map<std::tuple<std::string, std::string, int>, OpSummary> ops;
  for (const auto& e : in.events) {
    if (e.depth != 0) continue;
    auto& s = ops[{e.name, e.module_path, e.node_index}];
    if (s.calls == 0) {
      s.name = e.name;
      s.module_path = e.module_path;
      s.node_index = e.node_index;
      s.category = category_of(e.name, e.module_path);
      for (const auto& a : e.inputs) {
        if (a.is_tensor) s.input_shapes.push_back(a.shape);
      }
      s.cost.known = e.cost.known;
    }
    const double total = static_cast<double>(e.end_ns - e.start_ns);
    s.calls += 1;
    s.cpu_total_us += total / 1e3;
    s.cpu_self_us += (total - child_ns[e.id]) / 1e3;
    s.gpu_us += gpu_ns_of_root[e.id] / 1e3;
    s.kernels += static_cast<int>(kernels_of_root[e.id]);
    s.cost.flops += e.cost.flops;
    s.cost.bytes += e.cost.bytes;
  }
  std::map<std::string, std::map<Bound, double>> bound_time;
  std::map<std::string, double> category_saving;
  double attention_core_us = 0, attention_core_flops = 0, mlp_us = 0, mlp_flops = 0;
  for (auto& [key, s] : ops) {
    s.calls /= iterations;
    s.cpu_total_us /= iterations;
    s.cpu_self_us /= iterations;
    s.gpu_us /= iterations;
    s.kernels = static_cast<int>(std::lround(s.kernels / iterations));
    s.cost.flops /= iterations;
    s.cost.bytes /= iterations;
    const double t = in.gpu ? s.gpu_us : s.cpu_total_us;
    s.roofline = classify(s.cost, t * 1e-6, in.ceilings);
    bound_time[s.category][s.roofline.bound] += t;
    out.ops.push_back(s);
  }
  std::sort(out.ops.begin(), out.ops.end(), [&](const OpSummary& a, const OpSummary& b) {
    return (in.gpu ? a.gpu_us : a.cpu_total_us) > (in.gpu ? b.gpu_us : b.cpu_total_us);
  });

  // Savings per category: time above what the work would take near its
  // ceiling (the ops' roofline floor at a realistic efficiency).
  for (const auto& e : in.events) {
    if (e.depth != 0) continue;
    const std::string category = category_of(e.name, e.module_path);
    const double t = (in.gpu ? gpu_ns_of_root[e.id] : static_cast<double>(e.end_ns - e.start_ns)) / 1e3 / iterations;
    if (category == kAttention && !is_projection(e)) {
      attention_core_us += t;
      attention_core_flops += e.cost.flops / iterations;
    }
    if (category == kMlp) {
      mlp_us += t;
      mlp_flops += (is_gemm(e.name) ? e.cost.flops : 0) / iterations;
    }
  }

  // --- kernels ----------------------------------------------------------------
  std::map<std::tuple<std::string, std::string, std::string>, KernelSummary> ks;
  for (const auto& k : kernels) {
    auto& s = ks[{k.activity->name, k.root ? k.root->name : "", k.root ? k.root->module_path : ""}];
    const double d = static_cast<double>(k.activity->end_ns - k.activity->start_ns);
    if (s.calls == 0) {
      s.name = k.activity->name;
      s.op = k.root ? k.root->name : "";
      s.module_path = k.root ? k.root->module_path : "";
      s.category = k.category;
    }
    s.calls += 1;
    s.gpu_us += d / 1e3;
    if (k.root && gpu_ns_of_root[k.root->id] > 0) {
      // The op's work shared out over its kernels by their time.
      const double share = d / gpu_ns_of_root[k.root->id];
      s.cost.flops += k.root->cost.flops * share;
      s.cost.bytes += k.root->cost.bytes * share;
      s.cost.known = k.root->cost.known;
    }
  }
  for (auto& [key, s] : ks) {
    s.calls /= iterations;
    s.gpu_us /= iterations;
    s.cost.flops /= iterations;
    s.cost.bytes /= iterations;
    s.roofline = classify(s.cost, s.gpu_us * 1e-6, in.ceilings);
    out.kernels.push_back(s);
  }
  std::sort(out.kernels.begin(), out.kernels.end(),
            [](const KernelSummary& a, const KernelSummary& b) { return a.gpu_us > b.gpu_us; });

  // --- categories, savings, recommendations -----------------------------------
  const double iteration_us = span_ns / iterations / 1e3;
  const double attention_flash_us = seconds_at(attention_core_flops, kAttentionEfficiency, in.ceilings) * 1e6;
  const double mlp_fused_us = seconds_at(mlp_flops, kGemmEfficiency, in.ceilings) * 1e6;
  category_saving[kAttention] = std::max(0.0, attention_core_us - attention_flash_us);
  category_saving[kMlp] = std::max(0.0, mlp_us - mlp_fused_us);
  for (const auto& s : out.ops) {
    if (s.category != kNorm && s.category != kElementwise) continue;
    const double t = in.gpu ? s.gpu_us : s.cpu_total_us;
    category_saving[s.category] += std::max(0.0, t - s.roofline.ideal_seconds * 1e6 / kFusedEfficiency);
  }
  for (const auto& [c, ns] : category_ns) {
    CategoryTime ct;
    ct.category = c;
    ct.time_us = ns / iterations / 1e3;
    ct.share = iteration_us > 0 ? ct.time_us / iteration_us : 0;
    ct.bound = c == kIdle ? Bound::Latency : majority_bound(bound_time[c]);
    ct.potential_saving_us = c == kIdle ? (in.gpu ? kGraphReplayRecovery * ct.time_us : 0) : category_saving[c];
    out.categories.push_back(ct);
  }
  std::sort(out.categories.begin(), out.categories.end(),
            [](const CategoryTime& a, const CategoryTime& b) { return a.time_us > b.time_us; });
  std::map<std::string, std::map<Bound, double>> module_bound_time;
  std::map<std::string, double> module_saving;
  for (const auto& s : out.ops) {
    const std::string m = truncate_path(s.module_path, depth);
    const double t = in.gpu ? s.gpu_us : s.cpu_total_us;
    module_bound_time[m][s.roofline.bound] += t;
    module_saving[m] += std::max(0.0, t - s.roofline.ideal_seconds * 1e6 / kFusedEfficiency);
  }
  for (const auto& [m, ns] : module_ns) {
    ModuleTime mt;
    mt.module_path = m;
    mt.time_us = ns / iterations / 1e3;
    mt.share = iteration_us > 0 ? mt.time_us / iteration_us : 0;
    mt.bound = majority_bound(module_bound_time[m]);
    mt.potential_saving_us = std::min(mt.time_us, module_saving[m]);
    out.modules.push_back(mt);
  }
  std::sort(out.modules.begin(), out.modules.end(),
            [](const ModuleTime& a, const ModuleTime& b) { return a.time_us > b.time_us; });

  auto modules_in = [&](const std::string& category) {
    std::set<std::string> names;
    for (const auto& s : out.ops) {
      if (s.category == category) names.insert(truncate_path(s.module_path, depth));
    }
    return std::vector<std::string>(names.begin(), names.end());
  };
  auto recommend = [&](const std::string& transform, double saving_us, const std::string& reason,
                       std::vector<std::string> where) {
    Recommendation r;
    r.transform = transform;
    r.expected_saving_us = saving_us;
    r.expected_speedup = iteration_us > saving_us ? iteration_us / (iteration_us - saving_us) : 1;
    r.reason = reason;
    r.modules = std::move(where);
    out.recommendations.push_back(std::move(r));
  };
  const auto ms = [](double us) { return fixed(us / 1e3, 3) + " ms"; };
  const auto pct = [&](double us) { return fixed(iteration_us > 0 ? 100 * us / iteration_us : 0, 1) + "%"; };
  if (in.gpu && category_saving[kAttention] > 0.02 * iteration_us) {
    recommend("flash_attention", category_saving[kAttention],
              "attention outside its projections takes " + ms(attention_core_us) + " (" + pct(attention_core_us) +
                  ") for " + fixed(attention_core_flops / 1e9, 1) + " GFLOP; a fused kernel at " +
                  fixed(kAttentionEfficiency * 100, 0) + "% of the measured " + fixed(in.ceilings.matmul_tflops, 0) +
                  " TFLOP/s needs " + ms(attention_flash_us) + " and never writes the score matrix",
              modules_in(kAttention));
  }
  if (in.gpu && category_saving[kMlp] > 0.02 * iteration_us) {
    recommend("fused_mlp", category_saving[kMlp],
              "the MLP takes " + ms(mlp_us) + " (" + pct(mlp_us) + ") for " + fixed(mlp_flops / 1e9, 1) +
                  " GFLOP of GEMMs; with the activation fused into the GEMM epilogue at " +
                  fixed(kGemmEfficiency * 100, 0) + "% of the GEMM ceiling it needs " + ms(mlp_fused_us),
              modules_in(kMlp));
  }
  const double idle_us = category_ns[kIdle] / iterations / 1e3;
  if (in.gpu && idle_us > 0.1 * iteration_us) {
    recommend("cuda_graphs", kGraphReplayRecovery * idle_us,
              "the GPU is idle " + ms(idle_us) + " per forward (" + pct(idle_us) + ") between " +
                  fixed(static_cast<double>(kernels.size()) / iterations, 0) +
                  " kernel launches: replaying a captured CUDA graph removes most launch gaps",
              {});
  }
  if (in.gpu && in.visible_devices > 1) {
    const double parallel_us = category_ns[kAttention] / iterations / 1e3 + category_ns[kMlp] / iterations / 1e3;
    const double n = in.visible_devices;
    recommend("tensor_parallel", parallel_us * (1 - 1 / n) * 0.8,
              "attention and MLP take " + ms(parallel_us) + "; split over the " + fixed(n, 0) +
                  " visible GPUs (heads and MLP columns per GPU, one all-reduce per block)",
              modules_in(kMlp));
  }
  int64_t longest_keys = 0;
  for (const auto& e : in.events) {
    if (e.depth == 0 && e.name == "aten::softmax" && !e.inputs.empty() && e.inputs[0].shape.size() == 4 &&
        category_of(e.name, e.module_path) == kAttention) {
      longest_keys = std::max(longest_keys, e.inputs[0].shape[3]);
    }
  }
  if (in.gpu && longest_keys >= 16384) {
    recommend("ring_attention", in.visible_devices > 1 ? attention_core_us * (1 - 1.0 / in.visible_devices) : 0,
              "attention spans " + std::to_string(longest_keys) +
                  " keys: its scores grow with the square of the sequence; ring attention splits the sequence "
                  "over GPUs and never holds more than one key/value block per GPU",
              modules_in(kAttention));
  }
  std::sort(out.recommendations.begin(), out.recommendations.end(),
            [](const Recommendation& a, const Recommendation& b) { return a.expected_saving_us > b.expected_saving_us; });

  // --- the last iteration, for the trace -----------------------------------------
  if (!in.iteration_spans.empty()) {
    const auto [begin, end] = in.iteration_spans.back();
    for (const auto& e : in.events) {
      if (e.start_ns >= begin && e.start_ns < end) out.trace_ops.push_back(e);
    }
    std::set<uint32_t> correlations;
    for (const auto& a : in.trace.gpu) {
      if (a.start_ns >= begin && a.start_ns < end) {
        out.trace_gpu.gpu.push_back(a);
        correlations.insert(a.correlation_id);
      }
    }
    for (const auto& a : in.trace.api) {
      if (a.start_ns >= begin && a.start_ns < end) out.trace_gpu.api.push_back(a);
    }
    for (const auto& s : in.trace.syncs) {
      if (s.start_ns >= begin && s.start_ns < end) out.trace_gpu.syncs.push_back(s);
    }
    for (const auto& c : in.trace.correlations) {
      if (correlations.count(c.correlation_id)) out.trace_gpu.correlations.push_back(c);
    }
    out.trace_gpu.dropped_records = in.trace.dropped_records;
  }
  out.iteration_spans_ns = in.iteration_spans;
}

}  // namespace mlopt::profiler
