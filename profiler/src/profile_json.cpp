#include "mlopt/profiler/profile_json.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>

#include "mlopt/core/error.h"

namespace mlopt {

// Enums and core types as their text forms.
inline void to_json(nlohmann::json& j, const DType& d) { j = to_string(d); }
inline void from_json(const nlohmann::json& j, DType& d) { d = parse_dtype(j.get<std::string>()); }
inline void to_json(nlohmann::json& j, const Device& d) { j = to_string(d); }
inline void from_json(const nlohmann::json& j, Device& d) { d = parse_device(j.get<std::string>()); }
inline void to_json(nlohmann::json& j, const InputSpec& s) { j = s.to_string(); }
inline void from_json(const nlohmann::json& j, InputSpec& s) { s = InputSpec::parse(j.get<std::string>()); }

namespace profiler {

NLOHMANN_JSON_SERIALIZE_ENUM(Bound, {{Bound::Unknown, "unknown"},
                                     {Bound::Compute, "compute"},
                                     {Bound::Memory, "memory"},
                                     {Bound::Latency, "latency"}})
NLOHMANN_JSON_SERIALIZE_ENUM(GpuActivityKind, {{GpuActivityKind::Kernel, "kernel"},
                                               {GpuActivityKind::Memcpy, "memcpy"},
                                               {GpuActivityKind::Memset, "memset"}})

// Scalars such as masked_fill's -inf are not JSON numbers: written as text.
inline void to_json(nlohmann::json& j, const TensorArg& a) {
  j = {{"shape", a.shape}, {"dtype", a.dtype}, {"is_tensor", a.is_tensor}};
  if (std::isfinite(a.scalar)) j["scalar"] = a.scalar;
  else j["scalar"] = std::isnan(a.scalar) ? "nan" : (a.scalar > 0 ? "inf" : "-inf");
}
inline void from_json(const nlohmann::json& j, TensorArg& a) {
  j.at("shape").get_to(a.shape);
  j.at("dtype").get_to(a.dtype);
  j.at("is_tensor").get_to(a.is_tensor);
  const auto& scalar = j.at("scalar");
  a.scalar = scalar.is_string() ? std::strtod(scalar.get<std::string>().c_str(), nullptr) : scalar.get<double>();
}
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OpCost, flops, bytes, known)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(DeviceCeilings, device_name, dtype, matmul_tflops, copy_gbps, launch_overhead_us,
                                   measured_at, torch_version)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Roofline, bound, achieved_tflops, achieved_gbps, share_of_ceiling, ideal_seconds)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OpEvent, id, parent, name, start_ns, end_ns, thread, depth, iteration, module_path,
                                   node_index, inputs, cost)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MemorySample, time_ns, allocated_bytes, reserved_bytes)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OpSummary, name, module_path, node_index, category, calls, cpu_total_us,
                                   cpu_self_us, gpu_us, kernels, cost, roofline, input_shapes)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(KernelSummary, name, op, module_path, category, calls, gpu_us, cost, roofline)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(CategoryTime, category, time_us, share, bound, potential_saving_us)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ModuleTime, module_path, time_us, share, bound, potential_saving_us)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Recommendation, transform, reason, expected_saving_us, expected_speedup, modules)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(GpuActivity, kind, name, start_ns, end_ns, device, stream, correlation_id, bytes,
                                   grid, block, registers_per_thread, shared_memory_bytes)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ApiCall, name, start_ns, end_ns, correlation_id, thread, driver)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SyncActivity, kind, start_ns, end_ns, stream, correlation_id)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ExternalCorrelation, external_id, correlation_id)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(MemoryActivity, time_ns, bytes, device)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ActivityTrace, gpu, api, syncs, correlations, memory, dropped_records,
                                   buffers_completed)

namespace {

nlohmann::json summary_json(const ProfileResult& p) {
  return {{"format", "mlopt-profile"},
          {"model", p.model_path},
          {"input_spec", p.spec},
          {"device", p.device},
          {"device_name", p.device_name},
          {"dtype", p.dtype},
          {"warmup", p.warmup},
          {"iterations", p.iterations},
          {"iteration_us", p.iteration_us},
          {"mean_iteration_us", p.mean_iteration_us},
          {"unprofiled_iteration_us", p.unprofiled_iteration_us},
          {"overhead", p.overhead},
          {"gpu_busy_us", p.gpu_busy_us},
          {"ceilings", p.ceilings},
          {"categories", p.categories},
          {"modules", p.modules},
          {"ops", p.ops},
          {"kernels", p.kernels},
          {"recommendations", p.recommendations},
          {"dropped_records", p.dropped_records},
          {"correlated_kernel_share", p.correlated_kernel_share},
          {"attributed_op_share", p.attributed_op_share},
          {"peak_memory_bytes", p.peak_memory_bytes},
          {"memory", p.memory}};
}

}  // namespace

std::string to_json(const ProfileResult& profile, bool with_trace, int indent) {
  auto j = summary_json(profile);
  if (with_trace) {
    j["trace_ops"] = profile.trace_ops;
    j["trace_gpu"] = profile.trace_gpu;
    j["iteration_spans_ns"] = profile.iteration_spans_ns;
  }
  return j.dump(indent);
}

ProfileResult profile_from_json(const std::string& text) {
  try {
    const auto j = nlohmann::json::parse(text);
    if (j.value("format", "") != "mlopt-profile") throw UsageError("not an mlopt profile (no \"format\": \"mlopt-profile\")");
    ProfileResult p;
    p.model_path = j.at("model").get<std::string>();
    j.at("input_spec").get_to(p.spec);
    j.at("device").get_to(p.device);
    j.at("device_name").get_to(p.device_name);
    j.at("dtype").get_to(p.dtype);
    j.at("warmup").get_to(p.warmup);
    j.at("iterations").get_to(p.iterations);
    j.at("iteration_us").get_to(p.iteration_us);
    j.at("mean_iteration_us").get_to(p.mean_iteration_us);
    j.at("unprofiled_iteration_us").get_to(p.unprofiled_iteration_us);
    j.at("overhead").get_to(p.overhead);
    j.at("gpu_busy_us").get_to(p.gpu_busy_us);
    j.at("ceilings").get_to(p.ceilings);
    j.at("categories").get_to(p.categories);
    j.at("modules").get_to(p.modules);
    j.at("ops").get_to(p.ops);
    j.at("kernels").get_to(p.kernels);
    j.at("recommendations").get_to(p.recommendations);
    j.at("dropped_records").get_to(p.dropped_records);
    j.at("correlated_kernel_share").get_to(p.correlated_kernel_share);
    j.at("attributed_op_share").get_to(p.attributed_op_share);
    j.at("peak_memory_bytes").get_to(p.peak_memory_bytes);
    j.at("memory").get_to(p.memory);
    if (j.contains("trace_ops")) {
      j.at("trace_ops").get_to(p.trace_ops);
      j.at("trace_gpu").get_to(p.trace_gpu);
      j.at("iteration_spans_ns").get_to(p.iteration_spans_ns);
    }
    return p;
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(std::string("malformed profile JSON: ") + e.what());
  }
}

}  // namespace profiler
}  // namespace mlopt
