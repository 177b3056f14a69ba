#include "load_errors.h"

#include <regex>

#include "mlopt/core/error.h"
#include "mlopt/core/torch_bridge.h"

namespace mlopt {

std::string concise_message(const std::string& msg) {
  std::string text = msg;
  // TorchScript interpreter errors end with the original exception after a
  // traceback of TorchScript frames; that last line is what matters.
  if (const auto tb = text.find("Traceback of TorchScript"); tb != std::string::npos) {
    static const std::regex last_error(R"((\w*Error): ([^\n]*))");
    std::smatch m;
    std::string rest = text.substr(tb);
    std::string found;
    for (auto it = std::sregex_iterator(rest.begin(), rest.end(), last_error); it != std::sregex_iterator(); ++it) {
      found = (*it)[2].str();
    }
    if (!found.empty()) return found;
  }
  // Drop leading blank lines, keep the first meaningful one.
  const auto start = text.find_first_not_of(" \n\t");
  if (start == std::string::npos) return text;
  const auto end = text.find('\n', start);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

bool is_out_of_memory(const std::string& msg) {
  return msg.find("out of memory") != std::string::npos || msg.find("OutOfMemory") != std::string::npos ||
         msg.find("can't allocate memory") != std::string::npos;
}

void throw_load_error(const std::filesystem::path& file, const std::string& msg) {
  const std::string name = "'" + file.string() + "'";
  static const std::regex unknown_op(R"(Unknown builtin op: ([A-Za-z0-9_]+)::([A-Za-z0-9_.]+))");
  std::smatch m;
  if (std::regex_search(msg, m, unknown_op)) {
    const std::string ns = m[1].str();
    const std::string op = ns + "::" + m[2].str();
    if (ns == "aten" || ns == "prim") {
      throw ModelLoadError(name + " uses the operator " + op + ", which this libtorch (" + torch_version() +
                           ") does not have: the model was saved by a newer PyTorch. Build mlopt against a "
                           "newer libtorch (cmake -DTorch_DIR=..., see README) or export the model with the "
                           "PyTorch version that matches this libtorch.");
    }
    throw ModelLoadError(name + " uses the custom operator " + op + ", which is not registered in this process: "
                         "load the library that defines the " + ns + ":: operators before loading the model.");
  }
  static const std::regex newer_version(R"(version (\d+), but the maximum supported version for reading is (\d+))");
  if (std::regex_search(msg, m, newer_version)) {
    throw ModelLoadError(name + " was written in TorchScript format version " + m[1].str() + ", but this libtorch (" +
                         torch_version() + ") reads up to version " + m[2].str() +
                         ": build mlopt against a newer libtorch (cmake -DTorch_DIR=..., see README).");
  }
  if (msg.find("file constants.pkl") != std::string::npos || msg.find("file code/") != std::string::npos) {
    throw ModelLoadError(name + " is a PyTorch archive but not a TorchScript module (torch.save of a model or "
                         "a state_dict holds no code): export it with torch.jit.script or torch.jit.trace and "
                         "torch.jit.save.");
  }
  if (msg.find("PytorchStreamReader failed") != std::string::npos ||
      msg.find("failed finding central directory") != std::string::npos) {
    throw ModelLoadError(name + " is not a TorchScript file, or it is truncated: TorchScript files are zip "
                         "archives written by torch.jit.save. Re-export the model (torch.jit.script or "
                         "torch.jit.trace, then torch.jit.save). Details: " + concise_message(msg));
  }
  throw ModelLoadError("could not load " + name + " as TorchScript: " + concise_message(msg));
}

}  // namespace mlopt
