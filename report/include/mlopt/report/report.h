#pragma once
// Report: what a project holds, gathered for reading: the model, its inputs,
// device and dtype, every run's latency, and every profile's ranking (by
// category and by module), its top ops and kernels, recommendations, memory,
// the device's ceilings and the profiler's overhead. A plain value, built
// once from a Project and handed to each writer (writers.h), so every format
// says the same thing. Times are milliseconds throughout.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "mlopt/core/project.h"
#include "mlopt/core/stats.h"

namespace mlopt::report {

// Bumped when a field of the JSON report (SCHEMA.md) changes meaning or goes away.
inline constexpr int kReportVersion = 1;

struct LatencyRun {
  std::string label;  // "run 1", in the order the project recorded them
  std::string variant;  // "" for the model as loaded, else the transforms applied ("flash_attention+fused_mlp")
  std::string model_path;
  std::string input_spec;
  std::string device;       // "cuda:0"
  std::string device_name;  // "NVIDIA H100 80GB HBM3"
  std::string dtype;        // "fp16"
  std::string timer;        // "cuda-events" or "steady-clock"
  std::string timestamp;    // UTC, ISO 8601
  std::string torch_version;
  int warmup = 0;
  LatencyStats stats;  // of samples_ms
  double q1_ms = 0;    // 25th and 75th percentiles: the box of the box plot
  double q3_ms = 0;
  std::vector<double> samples_ms;
  int64_t tokens_per_forward = 0;
  double tokens_per_second = 0;
  int64_t peak_memory_bytes = -1;  // the CUDA caching allocator's peak over the timed forwards; -1: not measured (CPU)
};

// A category of time, or a module, per iteration.
struct TimeShare {
  std::string name;
  double time_ms = 0;
  double share = 0;   // of the iteration, 0..1
  std::string bound;  // "compute", "memory", "latency", "unknown"
  double potential_saving_ms = 0;
};

struct OpRow {
  std::string name;    // "aten::addmm"
  std::string module;  // "" is the root module
  std::string category;
  double calls = 0;    // per iteration
  double time_ms = 0;  // per iteration: GPU time in a GPU profile, CPU time (children included) otherwise
  double tflops = 0;   // achieved
  double gbps = 0;
  std::string bound;
  double share_of_ceiling = 0;  // 0..1
};

struct KernelRow {
  std::string name;
  std::string op;  // the op that launched it ("" when uncorrelated)
  std::string module;
  std::string category;
  double calls = 0;
  double time_ms = 0;
  std::string bound;
  double share_of_ceiling = 0;
};

struct RecommendationRow {
  std::string transform;  // "flash_attention", ...
  std::string reason;
  double saving_ms = 0;  // per iteration
  double speedup = 1;
  std::vector<std::string> modules;
};

struct MemoryPoint {
  double time_ms = 0;  // since the first sample of the iteration
  int64_t allocated_bytes = 0;
  int64_t reserved_bytes = 0;
};

struct Ceilings {
  std::string dtype;  // of the GEMM measured
  double matmul_tflops = 0;
  double copy_gbps = 0;
  double launch_overhead_us = 0;
  std::string measured_at;
  std::string torch_version;
};

struct ProfileSection {
  std::string label;  // "profile 1", in the order the project recorded them
  std::string model_path;
  std::string input_spec;
  std::string device;
  std::string device_name;
  std::string dtype;
  int warmup = 0;
  int iterations = 0;
  std::string time_basis;  // "gpu" (kernel time) or "cpu" (wall time of ops): what op times measure
  double iteration_ms = 0;             // median profiled iteration
  double mean_iteration_ms = 0;        // what the categories add up to
  double unprofiled_iteration_ms = 0;  // median without the profiler
  double overhead = 0;                 // profiler overhead: iteration / unprofiled - 1
  double gpu_busy_ms = 0;
  Ceilings ceilings;
  std::vector<TimeShare> categories;
  std::vector<TimeShare> modules;  // the top ones, by time
  int total_modules = 0;
  std::vector<OpRow> ops;  // the top ones, by time
  int total_ops = 0;       // how many the profile has
  std::vector<KernelRow> kernels;
  int total_kernels = 0;
  std::vector<RecommendationRow> recommendations;
  int64_t peak_memory_bytes = 0;
  std::vector<MemoryPoint> memory;  // over the last profiled iteration
  int64_t dropped_records = 0;
  double correlated_kernel_share = 0;
  double attributed_op_share = 0;
};

struct Report {
  int version = kReportVersion;
  std::string title;         // "mlopt report: gpt2.pt"
  std::string generated_at;  // UTC, ISO 8601
  std::string mlopt_version;
  std::string project_file;  // "" for a project never saved
  std::string model_path;
  std::string input_spec;
  std::string device;
  std::string device_name;  // from the latest profile or run on that device; "" when none
  std::string dtype;
  std::vector<std::string> transforms;
  // What the last optimize did: per transform its matches, what it left
  // alone and why, its verification, whether it was kept.
  std::vector<TransformOutcome> optimizations;
  std::vector<LatencyRun> runs;
  std::vector<ProfileSection> profiles;
};

struct ReportOptions {
  std::filesystem::path project_file;  // shown in the report; may be empty
  int top = 20;                        // module, op and kernel rows per profile; 0: all
  std::string generated_at;            // empty: now
};

// Throws ProjectError when a stored profile is not valid profile JSON
// (naming which one), UsageError for a negative `top`.
Report build_report(const Project& project, const ReportOptions& options = {});

// The version of mlopt that writes reports ("0.1.0").
std::string mlopt_version();

}  // namespace mlopt::report
