#include "mlopt/views/compare_data.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

#include "mlopt/core/stats.h"
#include "mlopt/profiler/profile_json.h"

namespace mlopt::views {
namespace {

std::string file_name(const std::string& path) {
  const std::string name = std::filesystem::path(path).filename().string();
  return name.empty() ? path : name;
}

// Group and label from the fields every variant has.
void describe(Variant& v) {
  // An optimized form of the model is its own line, not a point on the baseline's.
  const std::string model = v.variant.empty() ? v.model : v.model + " [" + v.variant + "]";
  v.group = model + " · " + to_string(v.dtype) + " · " + to_string(v.device);
  v.label = v.name + " · " + v.group + " · " + v.spec;
  if (!v.timestamp.empty()) v.label += " · " + v.timestamp;
}

void set_stats(Variant& v) {
  if (v.samples_ms.empty()) return;
  const LatencyStats s = summarize(v.samples_ms);
  v.median_ms = s.median_ms;
  v.p10_ms = s.p10_ms;
  v.p90_ms = s.p90_ms;
}

}  // namespace

BoxStats box_stats(const std::vector<double>& samples) {
  BoxStats b;
  if (samples.empty()) return b;
  b.q1 = percentile(samples, 25);
  b.median = percentile(samples, 50);
  b.q3 = percentile(samples, 75);
  const double reach = 1.5 * (b.q3 - b.q1);
  b.whisker_low = b.q1;
  b.whisker_high = b.q3;
  for (double s : samples) {
    if (s < b.q1 - reach || s > b.q3 + reach) {
      b.outliers.push_back(s);
    } else {
      b.whisker_low = std::min(b.whisker_low, s);
      b.whisker_high = std::max(b.whisker_high, s);
    }
  }
  std::sort(b.outliers.begin(), b.outliers.end());
  return b;
}

std::pair<int64_t, int64_t> batch_and_sequence(const InputSpec& spec) {
  // The same tensor tokens_per_forward counts: token ids first.
  for (const auto& t : spec.tensors) {
    if (t.dtype == DType::I64 || t.dtype == DType::I32) {
      if (t.shape.size() >= 2) return {t.shape[0], t.shape[1]};
      if (t.shape.size() == 1) return {1, t.shape[0]};
      return {0, 0};
    }
  }
  if (!spec.tensors.empty() && spec.tensors.front().shape.size() >= 2) {
    return {spec.tensors.front().shape[0], spec.tensors.front().shape[1]};
  }
  return {0, 0};
}

Variant variant_of(const RunResult& run, int index) {
  Variant v;
  v.kind = Variant::Kind::Run;
  v.index = index;
  v.name = "run " + std::to_string(index + 1);
  v.model = file_name(run.model_path);
  v.variant = run.variant;
  v.dtype = run.dtype;
  v.device = run.device;
  v.device_name = run.device_name;
  v.spec = run.spec.to_string();
  v.timestamp = run.timestamp;
  v.samples_ms = run.samples_ms;
  set_stats(v);
  v.tokens_per_forward = run.tokens_per_forward > 0 ? run.tokens_per_forward : run.spec.tokens_per_forward();
  v.tokens_per_second = run.tokens_per_second > 0                     ? run.tokens_per_second
                        : v.median_ms > 0 && v.tokens_per_forward > 0 ? v.tokens_per_forward / (v.median_ms / 1e3)
                                                                      : 0;
  std::tie(v.batch, v.sequence) = batch_and_sequence(run.spec);
  v.peak_memory_bytes = run.peak_memory_bytes.value_or(0);
  describe(v);
  return v;
}

Variant variant_of(const profiler::ProfileResult& p, int index) {
  Variant v;
  v.kind = Variant::Kind::Profile;
  v.index = index;
  v.name = "profile " + std::to_string(index + 1);
  v.model = file_name(p.model_path);
  v.dtype = p.dtype;
  v.device = p.device;
  v.device_name = p.device_name;
  v.spec = p.spec.to_string();
  // Each profiled iteration's span; a profile saved without its trace has
  // only the median.
  for (const auto& [start, end] : p.iteration_spans_ns) v.samples_ms.push_back(static_cast<double>(end - start) / 1e6);
  if (v.samples_ms.empty() && p.iteration_us > 0) v.samples_ms.push_back(p.iteration_us / 1e3);
  set_stats(v);
  // The profile's own median, not the spans' (they include the profiler's
  // bookkeeping between iterations the same way, but the median is what it reports).
  if (p.iteration_us > 0) v.median_ms = p.iteration_us / 1e3;
  v.tokens_per_forward = p.spec.tokens_per_forward();
  if (v.median_ms > 0 && v.tokens_per_forward > 0) v.tokens_per_second = v.tokens_per_forward / (v.median_ms / 1e3);
  std::tie(v.batch, v.sequence) = batch_and_sequence(p.spec);
  v.peak_memory_bytes = p.peak_memory_bytes;
  for (const auto& c : p.categories) v.categories_us.emplace_back(c.category, c.time_us);
  describe(v);
  return v;
}

CompareData compare_data(const Project& project) {
  CompareData data;
  for (std::size_t i = 0; i < project.runs.size(); ++i) {
    data.variants.push_back(variant_of(project.runs[i], static_cast<int>(i)));
  }
  for (std::size_t i = 0; i < project.profiles.size(); ++i) {
    try {
      data.variants.push_back(variant_of(profiler::profile_from_json(project.profiles[i]), static_cast<int>(i)));
    } catch (const std::exception& e) {
      data.problems.push_back("profile " + std::to_string(i + 1) + " cannot be read: " + e.what());
    }
  }
  return data;
}

double sweep_value(const Variant& v, SweepDim dim) {
  switch (dim) {
    case SweepDim::Batch:
      return static_cast<double>(v.batch);
    case SweepDim::Sequence:
      return static_cast<double>(v.sequence);
    case SweepDim::Tokens:
      return static_cast<double>(v.tokens_per_forward);
  }
  return 0;
}

SweepAxis sweep_axis(const std::vector<const Variant*>& variants) {
  // Which dimension varies within a group (one model, dtype, device): that
  // is the sweep; across groups the sizes may differ for other reasons.
  std::map<std::string, std::set<int64_t>> batches, sequences;
  std::set<int64_t> all_batches, all_sequences;
  for (const Variant* v : variants) {
    if (v->tokens_per_second <= 0 || v->batch <= 0) continue;
    batches[v->group].insert(v->batch);
    sequences[v->group].insert(v->sequence);
    all_batches.insert(v->batch);
    all_sequences.insert(v->sequence);
  }
  bool batch_varies = false, sequence_varies = false;
  for (const auto& [group, values] : batches) batch_varies = batch_varies || values.size() > 1;
  for (const auto& [group, values] : sequences) sequence_varies = sequence_varies || values.size() > 1;
  SweepAxis axis;
  if (batch_varies && sequence_varies) {
    axis.dim = SweepDim::Tokens;
    axis.label = "tokens per forward (batch × sequence length)";
  } else if (sequence_varies) {
    axis.dim = SweepDim::Sequence;
    axis.label = "sequence length";
    if (all_batches.size() == 1) axis.label += " (batch " + std::to_string(*all_batches.begin()) + ")";
  } else {
    axis.dim = SweepDim::Batch;
    axis.label = "batch size";
    if (all_sequences.size() == 1) axis.label += " (sequence length " + std::to_string(*all_sequences.begin()) + ")";
  }
  return axis;
}

std::vector<SweepLine> sweep_lines(const std::vector<const Variant*>& variants, SweepDim dim) {
  std::vector<SweepLine> lines;
  std::map<std::string, std::size_t> line_of;
  std::vector<std::map<double, double>> points;  // x -> tokens/s; later variants replace earlier ones
  for (const Variant* v : variants) {
    const double x = sweep_value(*v, dim);
    if (v->tokens_per_second <= 0 || x <= 0) continue;
    auto [it, added] = line_of.emplace(v->group, lines.size());
    if (added) {
      lines.push_back({v->group, {}});
      points.emplace_back();
    }
    points[it->second][x] = v->tokens_per_second;
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    for (const auto& [x, y] : points[i]) lines[i].points.push_back({x, y});
  }
  return lines;
}

std::vector<std::string> category_order(const std::vector<const Variant*>& variants) {
  static const std::vector<std::string> report_order = {
      profiler::kAttention, profiler::kMlp,           profiler::kNorm,  profiler::kElementwise,
      profiler::kEmbedding, profiler::kCommunication, profiler::kOther, profiler::kIdle};
  std::set<std::string> present;
  for (const Variant* v : variants) {
    for (const auto& [category, us] : v->categories_us) present.insert(category);
  }
  std::vector<std::string> order;
  for (const auto& c : report_order) {
    if (present.erase(c) > 0) order.push_back(c);
  }
  order.insert(order.end(), present.begin(), present.end());
  return order;
}

}  // namespace mlopt::views
