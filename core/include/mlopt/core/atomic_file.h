#pragma once
// Writing files so that a crash or a failed write never leaves a half-written
// file where the user's was: write a temporary file beside it, then rename it
// over the target (atomic on POSIX file systems).
#include <filesystem>
#include <functional>
#include <string>

namespace mlopt {

// `write` fills the temporary path it is given; on success that file replaces
// `file`, on any exception it is removed and IoError names `file` and the
// reason. Missing parent folders are created when `create_parents`.
void write_atomically(const std::filesystem::path& file,
                      const std::function<void(const std::filesystem::path& temp)>& write,
                      bool create_parents = false);

// The common case: a whole text or binary string.
void write_file_atomically(const std::filesystem::path& file, const std::string& contents);

}  // namespace mlopt
