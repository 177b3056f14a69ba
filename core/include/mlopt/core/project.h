#pragma once
// Project file (.mlopt), schema version 1: a JSON document holding the model
// (its path relative to the project file), the input spec, device, dtype, the
// transforms chosen and the results of runs. Saved atomically.
#include <filesystem>
#include <string>
#include <vector>

#include "mlopt/core/dtype.h"
#include "mlopt/core/input_spec.h"
#include "mlopt/core/model_info.h"
#include "mlopt/core/runner.h"
#include "mlopt/core/transforms.h"

namespace mlopt {

struct Project {
  static constexpr int kSchemaVersion = 1;

  std::filesystem::path model_path;  // absolute in memory; relative to the file on disk
  InputSpec input_spec;
  Device device;
  DType dtype = DType::F32;
  std::vector<std::string> transforms;  // names of the transforms chosen, in order
  // What the last optimize did with each: matches, misses, verification.
  std::vector<TransformOutcome> optimizations;
  std::vector<RunResult> runs;
  // Profiles (the profiler's ProfileResult as JSON text): core stores them
  // without knowing their type, since the profiler sits above core.
  std::vector<std::string> profiles;

  // Throws ProjectError: unreadable file, malformed JSON (with the line and
  // column), a schema version newer than this mlopt reads, a missing field,
  // or a model file that no longer exists (naming where it was looked for).
  // Readers that never open the model (reports of a project copied from
  // another machine) pass ModelFile::MayBeMissing.
  enum class ModelFile { MustExist, MayBeMissing };
  static Project load(const std::filesystem::path& file, ModelFile model_file = ModelFile::MustExist);
  // Writes a temporary file beside `file` and renames it over `file`, so an
  // existing project is never left half-written. Throws IoError.
  void save(const std::filesystem::path& file) const;
};

// JSON text of one run result (the CLI's `run --json`), and back.
std::string to_json(const RunResult& result, int indent = 2);
RunResult run_result_from_json(const std::string& text);
// JSON text of transform outcomes (the CLI's `optimize --json`).
std::string to_json(const std::vector<TransformOutcome>& outcomes, int indent = 2);

// JSON text of a model description (the CLI's `inspect --json`).
std::string to_json(const ModelInfo& info, int indent = 2);

}  // namespace mlopt
