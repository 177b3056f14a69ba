#pragma once
// Typed errors thrown by the mlopt libraries. Library code never prints or
// exits: it throws one of these with a message a user can act on (what went
// wrong, which file or node, what to do). The CLI and the GUI show what().
#include <stdexcept>
#include <string>

namespace mlopt {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The model file could not be read or compiled (not TorchScript, truncated,
// a directory, operators this libtorch lacks, ...).
class ModelLoadError : public Error { using Error::Error; };
// An input spec that does not parse, or does not fit the model's forward.
class InputSpecError : public Error { using Error::Error; };
// A device that is unavailable (no CUDA in this libtorch, no GPU visible).
class DeviceError : public Error { using Error::Error; };
// The device ran out of memory; the message says how much was asked for.
class OutOfMemoryError : public Error { using Error::Error; };
// The model's forward failed at run time for a reason other than the above.
class RuntimeError : public Error { using Error::Error; };
// A project file that is malformed, too new, or points at a missing model.
class ProjectError : public Error { using Error::Error; };
// Reading or writing a file failed.
class IoError : public Error { using Error::Error; };
// A bad argument to an API or command (unknown preset, bad option value).
class UsageError : public Error { using Error::Error; };

}  // namespace mlopt
