#include "mlopt/core/atomic_file.h"

#include <fstream>
#include <random>
#include <sstream>

#include "mlopt/core/error.h"
#include "mlopt/core/torch_bridge.h"

namespace mlopt {
namespace {

// A name no other writer picks: hidden, beside the target, random suffix.
std::filesystem::path temp_path_for(const std::filesystem::path& file) {
  std::random_device random;
  std::ostringstream name;
  name << '.' << file.filename().string() << ".tmp-" << std::hex << random() << random();
  return file.parent_path() / name.str();
}

// Filesystem errors name our temporary file, which means nothing to a user.
std::string reason(const std::exception& error) {
  if (const auto* fs_error = dynamic_cast<const std::filesystem::filesystem_error*>(&error)) {
    return fs_error->code().message();
  }
  return torch_message(error);
}

}  // namespace

void write_atomically(const std::filesystem::path& file,
                      const std::function<void(const std::filesystem::path& temp)>& write, bool create_parents) {
  const auto parent = file.parent_path();
  if (create_parents && !parent.empty()) {
    std::error_code error;
    std::filesystem::create_directories(parent, error);
    if (error) {
      throw IoError("cannot write " + file.string() + ": cannot create folder " + parent.string() + " (" +
                    error.message() + ")");
    }
  }
  const auto temp = temp_path_for(file);
  try {
    write(temp);
    std::filesystem::rename(temp, file);
  } catch (const std::exception& error) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    throw IoError("cannot write " + file.string() + ": " + reason(error));
  }
}

void write_file_atomically(const std::filesystem::path& file, const std::string& contents) {
  write_atomically(file, [&](const std::filesystem::path& temp) {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << contents;
    out.flush();
    if (!out) throw std::runtime_error("the write failed (is the folder writable and the disk not full?)");
  });
}

}  // namespace mlopt
