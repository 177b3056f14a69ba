#pragma once
// Turns libtorch's load and run-time errors into mlopt's typed errors with a
// message a user can act on (no C++ backtrace, no interpreter traceback).
#include <filesystem>
#include <string>

namespace mlopt {

// Throws ModelLoadError describing why `file` could not be loaded.
[[noreturn]] void throw_load_error(const std::filesystem::path& file, const std::string& torch_message);

// The useful line(s) of a libtorch run-time message: the final
// "SomeError: ..." of a TorchScript traceback, else the first line.
std::string concise_message(const std::string& torch_message);

}  // namespace mlopt
