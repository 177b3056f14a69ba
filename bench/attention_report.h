#pragma once
// bench_attention's results: what was measured per case and implementation,
// the printed table, the JSON document and the targets block.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "attention_check.h"
#include "bench_timing.h"
#include "mlopt/core/stats.h"

namespace mlopt::bench {

struct ImplResult {
  std::string impl;
  bool available = false;  // ran and was timed
  std::string error;       // why not (unsupported shape, out of memory, ...)
  std::vector<double> samples_ms;
  LatencyStats stats;
  std::optional<CheckResult> check;  // against the case's reference output
  std::size_t workspace_bytes = 0;
};

struct CaseResult {
  std::string kind;   // "prefill" or "decode"
  std::string dtype;  // "bf16" or "fp16"
  int batch = 0, heads = 0, q_len = 0, kv_len = 0, head_dim = 0;
  bool causal = false;
  double flops = 0;  // FlashAttention's count: 4 * batch * heads * q_len * kv_len * head_dim, halved when causal
  double bytes = 0;  // q + k + v + out
  std::string reference;  // the implementation whose output the others are checked against ("" if none ran)
  std::string error;      // the whole case was skipped (inputs did not fit, ...)
  std::vector<ImplResult> results;

  std::string label() const;  // "prefill bf16 seq=4096 d=128 causal"
  const ImplResult* find(const std::string& impl) const;  // an available result, or null
};

// Milliseconds at the median, as TFLOP/s (prefill) and GB/s.
double tflops(const CaseResult& c, const ImplResult& r);
double gbps(const CaseResult& c, const ImplResult& r);

// A correctness failure of one of mlopt's implementations: its check failed,
// or it did not run at all where it should.
bool mlopt_failed(const ImplResult& r);

// One table line per implementation, printed as each case finishes.
void print_table_header();
void print_case(const CaseResult& c, const std::optional<CopyBandwidth>& copy);

struct Environment {
  std::string device, compute_capability, date, torch_version, cuda_runtime, cuda_driver, cudnn;
  int multiprocessors = 0;
  double memory_gib = 0;
};

// targets: prefill, per case, mlopt-mma >= torch-flash (TFLOP/s at the
// median); decode, per dtype, mlopt-auto >= 90% of the copy bandwidth.
nlohmann::json targets_json(const std::vector<CaseResult>& cases, const std::optional<CopyBandwidth>& copy);
// Prints the same as a few lines under the table.
void print_targets(const nlohmann::json& targets);

nlohmann::json case_json(const CaseResult& c, const std::optional<CopyBandwidth>& copy);
nlohmann::json copy_json(const CopyBandwidth& copy);
nlohmann::json environment_json(const Environment& env);

}  // namespace mlopt::bench
