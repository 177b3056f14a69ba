#include "mlopt/core/project.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "mlopt/core/atomic_file.h"
#include "mlopt/core/error.h"

namespace mlopt {

using nlohmann::json;

// --- RunResult <-> JSON ------------------------------------------------------

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(LatencyStats, count, mean_ms, median_ms, p10_ms, p90_ms, min_ms, max_ms,
                                   stddev_ms)

void to_json(json& j, const OutputInfo& o) {
  j = {{"name", o.name}, {"shape", o.shape}, {"dtype", to_string(o.dtype)}, {"all_finite", o.all_finite}};
}
void from_json(const json& j, OutputInfo& o) {
  j.at("name").get_to(o.name);
  j.at("shape").get_to(o.shape);
  o.dtype = parse_dtype(j.at("dtype").get<std::string>());
  j.at("all_finite").get_to(o.all_finite);
}

static json run_json(const RunResult& r) {
  return {{"model", r.model_path},
       {"variant", r.variant},
       {"input_spec", r.spec.to_string()},
       {"device", to_string(r.device)},
       {"device_name", r.device_name},
       {"dtype", to_string(r.dtype)},
       {"timer", r.timer},
       {"warmup", r.warmup},
       {"samples_ms", r.samples_ms},
       {"stats", r.stats},
       {"tokens_per_forward", r.tokens_per_forward},
       {"tokens_per_second", r.tokens_per_second},
       {"outputs", r.outputs},
       {"torch_version", r.torch_version},
       {"timestamp", r.timestamp},
       {"peak_memory_bytes", r.peak_memory_bytes ? json(*r.peak_memory_bytes) : json(nullptr)}};
}
static RunResult run_from_json(const json& j) {
  RunResult r;
  j.at("model").get_to(r.model_path);
  r.variant = j.value("variant", "");  // absent in files written before compare existed
  r.spec = InputSpec::parse(j.at("input_spec").get<std::string>());
  r.device = parse_device(j.at("device").get<std::string>());
  j.at("device_name").get_to(r.device_name);
  r.dtype = parse_dtype(j.at("dtype").get<std::string>());
  j.at("timer").get_to(r.timer);
  j.at("warmup").get_to(r.warmup);
  j.at("samples_ms").get_to(r.samples_ms);
  j.at("stats").get_to(r.stats);
  j.at("tokens_per_forward").get_to(r.tokens_per_forward);
  j.at("tokens_per_second").get_to(r.tokens_per_second);
  j.at("outputs").get_to(r.outputs);
  j.at("torch_version").get_to(r.torch_version);
  j.at("timestamp").get_to(r.timestamp);
  // null where not measured (CPU); absent in files written before it was.
  if (const auto it = j.find("peak_memory_bytes"); it != j.end() && !it->is_null()) {
    r.peak_memory_bytes = it->get<int64_t>();
  }
  return r;
}

std::string to_json(const RunResult& result, int indent) { return run_json(result).dump(indent); }

RunResult run_result_from_json(const std::string& text) {
  try {
    return run_from_json(json::parse(text));
  } catch (const json::exception& e) {
    throw UsageError(std::string("malformed run result JSON: ") + e.what());
  }
}

// --- TransformOutcome <-> JSON -----------------------------------------------

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PassMatch, module, detail)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(PassMiss, module, op, reason)
// An error is infinite when the outputs could not be compared at all (shape
// mismatch, NaN): JSON has no infinity, so it is stored as null.
static json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
static double number_or_infinity(const json& j) {
  return j.is_null() ? std::numeric_limits<double>::infinity() : j.get<double>();
}
void to_json(json& j, const OutputComparison& c) {
  j = {{"name", c.name},          {"max_abs_error", finite_or_null(c.max_abs_error)},
       {"max_reference", c.max_reference}, {"error", finite_or_null(c.error)},
       {"tolerance", c.tolerance}, {"passed", c.passed},
       {"problem", c.problem}};
}
void from_json(const json& j, OutputComparison& c) {
  j.at("name").get_to(c.name);
  c.max_abs_error = number_or_infinity(j.at("max_abs_error"));
  j.at("max_reference").get_to(c.max_reference);
  c.error = number_or_infinity(j.at("error"));
  j.at("tolerance").get_to(c.tolerance);
  j.at("passed").get_to(c.passed);
  j.at("problem").get_to(c.problem);
}
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Verification, seeds, outputs, error, passed)

static json outcome_json(const TransformOutcome& o) {
  return {{"transform", o.transform},
          {"matched", o.matched},
          {"missed", o.missed},
          {"verification", o.verification ? json(*o.verification) : json(nullptr)},
          {"applied", o.applied},
          {"note", o.note}};
}
static TransformOutcome outcome_from_json(const json& j) {
  TransformOutcome o;
  j.at("transform").get_to(o.transform);
  j.at("matched").get_to(o.matched);
  j.at("missed").get_to(o.missed);
  if (const auto& v = j.at("verification"); !v.is_null()) o.verification = v.get<Verification>();
  j.at("applied").get_to(o.applied);
  j.at("note").get_to(o.note);
  return o;
}

std::string to_json(const std::vector<TransformOutcome>& outcomes, int indent) {
  json j = json::array();
  for (const auto& o : outcomes) j.push_back(outcome_json(o));
  return j.dump(indent);
}

// --- files -------------------------------------------------------------------

void Project::save(const std::filesystem::path& file) const {
  const auto base = std::filesystem::absolute(file).parent_path();
  json transforms_json = transforms;
  json j = {{"format", "mlopt-project"},
            {"schema_version", kSchemaVersion},
            {"model", std::filesystem::relative(std::filesystem::absolute(model_path), base).generic_string()},
            {"input_spec", input_spec.to_string()},
            {"device", to_string(device)},
            {"dtype", to_string(dtype)},
            {"transforms", transforms_json},
            {"runs", json::array()}};
  for (const auto& r : runs) j["runs"].push_back(run_json(r));
  j["optimizations"] = json::array();
  for (const auto& o : optimizations) j["optimizations"].push_back(outcome_json(o));
  j["profiles"] = json::array();
  for (const auto& text : profiles) j["profiles"].push_back(json::parse(text));
  write_file_atomically(file, j.dump(2) + "\n");
}

Project Project::load(const std::filesystem::path& file, ModelFile model_file) {
  const std::string name = "'" + file.string() + "'";
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ProjectError("cannot open project " + name + " (does it exist?)");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::parse_error& e) {
    throw ProjectError("project " + name + " is not valid JSON: " + e.what());
  }
  if (!j.is_object() || j.value("format", "") != "mlopt-project") {
    throw ProjectError(name + " is not an mlopt project file (no \"format\": \"mlopt-project\")");
  }
  const int version = j.value("schema_version", 0);
  if (version > kSchemaVersion) {
    throw ProjectError("project " + name + " has schema version " + std::to_string(version) +
                       ", newer than this mlopt reads (" + std::to_string(kSchemaVersion) +
                       "): open it with a newer mlopt. The file was not changed.");
  }
  if (version < 1) throw ProjectError("project " + name + " has no valid schema_version");

  Project p;
  try {
    const auto base = std::filesystem::absolute(file).parent_path();
    p.model_path = (base / j.at("model").get<std::string>()).lexically_normal();
    // Empty while the user has not given one yet (a project saved right
    // after opening a model); everything else in the file still loads.
    const auto spec = j.at("input_spec").get<std::string>();
    if (!spec.empty()) p.input_spec = InputSpec::parse(spec);
    p.device = parse_device(j.at("device").get<std::string>());
    p.dtype = parse_dtype(j.at("dtype").get<std::string>());
    p.transforms = j.at("transforms").get<std::vector<std::string>>();
    for (const auto& r : j.at("runs")) p.runs.push_back(run_from_json(r));
    // Absent in projects written before optimizing existed.
    for (const auto& o : j.value("optimizations", json::array())) p.optimizations.push_back(outcome_from_json(o));
    // Absent in projects written before profiling existed.
    for (const auto& profile : j.value("profiles", json::array())) {
      if (!profile.is_object()) throw ProjectError("project " + name + " has a profile that is not a JSON object");
      p.profiles.push_back(profile.dump());
    }
  } catch (const json::exception& e) {
    throw ProjectError("project " + name + " is missing a field or has one of the wrong type: " + e.what());
  } catch (const Error& e) {
    throw ProjectError("project " + name + " has an invalid value: " + e.what());
  }
  if (model_file == ModelFile::MustExist && !std::filesystem::exists(p.model_path)) {
    throw ProjectError("project " + name + " refers to the model '" + p.model_path.string() +
                       "', which does not exist: put the model back there (paths are relative to the project "
                       "file) or edit the \"model\" field");
  }
  return p;
}

}  // namespace mlopt
