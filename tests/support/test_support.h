#pragma once
// Shared test helpers: scratch folders, the tiny sample models as fixtures,
// running the mlopt CLI as a subprocess.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "mlopt/core/sample_models.h"

namespace mlopt::test {

// Removes a directory tree. Not std::filesystem::remove_all: the libtorch.so
// of PyTorch 2.x wheels exports its own copy of it, which crashes (calls a
// null pointer) in any program linked against that libtorch.
inline void remove_tree(const std::filesystem::path& path) {
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator(path, ignored)) {
    if (entry.is_directory(ignored) && !entry.is_symlink(ignored)) remove_tree(entry.path());
    std::filesystem::remove(entry.path(), ignored);
  }
  std::filesystem::remove(path, ignored);
}

// A fresh folder under the system temp dir, removed with its contents.
class ScratchDir {
 public:
  ScratchDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("mlopt-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() { remove_tree(path_); }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// The tiny sample models, written once per test process.
inline const std::filesystem::path& fixture_dir() {
  static ScratchDir dir;
  return dir.path();
}
inline std::filesystem::path tiny_gpt2() {
  static const auto path = [] {
    auto p = fixture_dir() / "tiny-gpt2.pt";
    samples::write_gpt2(samples::gpt2_preset("tiny"), p);
    return p;
  }();
  return path;
}
inline std::filesystem::path tiny_llama() {
  static const auto path = [] {
    auto p = fixture_dir() / "tiny-llama.pt";
    samples::write_llama(samples::llama_preset("tiny"), p);
    return p;
  }();
  return path;
}

// The tiny Llama with grouped-query attention: 4 query heads sharing 2
// key/value heads (the "tiny" preset has as many k/v heads as query heads).
inline samples::LlamaConfig tiny_gqa_llama_config() {
  auto config = samples::llama_preset("tiny");
  config.heads = 4;
  config.kv_heads = 2;
  return config;
}
inline std::filesystem::path tiny_gqa_llama() {
  static const auto path = [] {
    auto p = fixture_dir() / "tiny-gqa-llama.pt";
    samples::write_llama(tiny_gqa_llama_config(), p);
    return p;
  }();
  return path;
}

inline void write_text(const std::filesystem::path& file, const std::string& text) {
  std::ofstream(file, std::ios::binary) << text;
}
inline std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct CliResult {
  int status = -1;
  std::string out;  // stdout and stderr together
};

// Runs the mlopt binary (path from MLOPT_CLI, set by CTest) with `args`
// (already shell-quoted where needed).
inline CliResult run_cli(const std::string& args) {
  const char* cli = std::getenv("MLOPT_CLI");
  CliResult r;
  if (!cli) {
    r.out = "MLOPT_CLI is not set: run the tests through ctest";
    return r;
  }
  const std::string command = std::string("'") + cli + "' " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  const int status = ::pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

inline std::string quote(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

}  // namespace mlopt::test
