#pragma once
// What the Compare view draws, from a project: every run and every profile
// is one "variant" with its latency samples, throughput, the batch and
// sequence length it ran at, peak memory and (profiles only) time per
// category. Plain values, no Qt: tested without a widget.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "mlopt/core/project.h"
#include "mlopt/profiler/profile_result.h"

namespace mlopt::views {

// Box-plot numbers of a set of samples (Tukey): box from the first to the
// third quartile, whiskers to the furthest sample within 1.5 IQR of the box,
// the samples beyond them as outliers.
struct BoxStats {
  double whisker_low = 0, q1 = 0, median = 0, q3 = 0, whisker_high = 0;
  std::vector<double> outliers;
};
// All zero for no samples.
BoxStats box_stats(const std::vector<double>& samples);

struct Variant {
  enum class Kind { Run, Profile };
  Kind kind = Kind::Run;
  int index = 0;              // into Project::runs or Project::profiles
  std::string name;           // short: "run 1", "profile 2" (1-based)
  std::string label;          // name · model [variant] · dtype · device · inputs · date
  std::string group;          // model [variant] · dtype · device: one throughput line
  std::string model;          // the model's file name
  std::string variant;        // runs: RunResult::variant, the transforms applied ("" = as loaded)
  DType dtype = DType::F32;
  Device device;
  std::string device_name;
  std::string spec;           // the input spec as text
  std::string timestamp;      // runs only ("" when unknown)

  std::vector<double> samples_ms;  // per timed (run) or profiled (profile) iteration
  double median_ms = 0, p10_ms = 0, p90_ms = 0;
  int64_t tokens_per_forward = 0;
  double tokens_per_second = 0;    // 0 when unknown
  int64_t batch = 0;               // the token tensor's first dimension; 0 unknown
  int64_t sequence = 0;            // its second; 0 unknown
  int64_t peak_memory_bytes = 0;   // 0: not recorded (runs on the CPU do not record it)
  std::vector<std::pair<std::string, double>> categories_us;  // per iteration; profiles only
};

struct CompareData {
  std::vector<Variant> variants;   // runs first, then profiles, each in project order
  std::vector<std::string> problems;  // profiles that could not be read, one sentence each
};

CompareData compare_data(const Project& project);
Variant variant_of(const RunResult& run, int index);
Variant variant_of(const profiler::ProfileResult& profile, int index);

// Batch and sequence length from a spec: the first integer input's [batch,
// seq] (token ids), else the first input of rank >= 2; {0, 0} when neither.
std::pair<int64_t, int64_t> batch_and_sequence(const InputSpec& spec);

// The dimension throughput is swept over, chosen from the variants shown.
enum class SweepDim { Batch, Sequence, Tokens };
struct SweepAxis {
  SweepDim dim = SweepDim::Batch;
  std::string label;  // "batch size (sequence length 1024)", ...
};
// Batch when only the batch varies within a group, sequence when only the
// sequence does, tokens per forward when both do; batch when neither does.
SweepAxis sweep_axis(const std::vector<const Variant*>& variants);
double sweep_value(const Variant& variant, SweepDim dim);

struct SweepPoint {
  double x = 0;
  double tokens_per_second = 0;
};
struct SweepLine {
  std::string group;
  std::vector<SweepPoint> points;  // by x; at one x, the latest variant's value
};
// One line per group among `variants` with a known throughput and size.
std::vector<SweepLine> sweep_lines(const std::vector<const Variant*>& variants, SweepDim dim);

// The categories of `variants` (profiles) in the profiler's report order,
// then any others by name.
std::vector<std::string> category_order(const std::vector<const Variant*>& variants);

}  // namespace mlopt::views
