// Every kind of bad model file gives a ModelLoadError naming the problem.
#include <gtest/gtest.h>

#include <caffe2/serialize/inline_container.h>

#include <random>

#include "mlopt/core/error.h"
#include "mlopt/core/model.h"
#include "test_support.h"

using namespace mlopt;

namespace {

std::string load_error(const std::filesystem::path& file) {
  try {
    Model::load(file);
  } catch (const ModelLoadError& e) {
    return e.what();
  }
  ADD_FAILURE() << "loaded " << file;
  return {};
}

void expect_contains(const std::string& msg, const std::string& part) {
  EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
  EXPECT_EQ(msg.find("frame #"), std::string::npos) << "backtrace leaked: " << msg;
}

// Copies a TorchScript archive record by record, letting `edit` change each
// record's bytes: how a file saved by a newer PyTorch looks to this one.
void rewrite_archive(const std::filesystem::path& from, const std::filesystem::path& to,
                     const std::function<std::string(const std::string&, std::string)>& edit) {
  caffe2::serialize::PyTorchStreamReader reader(from.string());
  caffe2::serialize::PyTorchStreamWriter writer(to.string());
  for (const auto& name : reader.getAllRecords()) {
    if (name == ".data/version" || name == "version") continue;  // the writer adds its own
    auto [data, size] = reader.getRecord(name);
    std::string bytes(static_cast<const char*>(data.get()), size);
    bytes = edit(name, std::move(bytes));
    writer.writeRecord(name, bytes.data(), bytes.size());
  }
  writer.writeEndOfFile();
}

// Replaces every `from` by `to` in the archive's TorchScript code (code/*.py).
void replace_in_code(const std::filesystem::path& from_file, const std::filesystem::path& to_file,
                     const std::string& from, const std::string& to) {
  rewrite_archive(from_file, to_file, [&](const std::string& name, std::string bytes) {
    const bool code = name.find("code/") != std::string::npos && name.size() > 3 &&
                      name.compare(name.size() - 3, 3, ".py") == 0;
    if (!code) return bytes;
    for (auto at = bytes.find(from); at != std::string::npos; at = bytes.find(from, at + to.size())) {
      bytes.replace(at, from.size(), to);
    }
    return bytes;
  });
}

}  // namespace

TEST(BadModel, MissingFile) {
  test::ScratchDir dir;
  expect_contains(load_error(dir / "nope.pt"), "does not exist");
}

TEST(BadModel, Directory) {
  test::ScratchDir dir;
  expect_contains(load_error(dir.path()), "is a directory");
}

TEST(BadModel, EmptyFile) {
  test::ScratchDir dir;
  test::write_text(dir / "empty.pt", "");
  expect_contains(load_error(dir / "empty.pt"), "empty");
}

TEST(BadModel, TextFile) {
  test::ScratchDir dir;
  test::write_text(dir / "model.pt", "def forward(self, x):\n    return x\n");
  expect_contains(load_error(dir / "model.pt"), "not a TorchScript file");
}

TEST(BadModel, RandomBytes) {
  test::ScratchDir dir;
  std::mt19937 rng(std::random_device{}());
  std::string bytes(4096, '\0');
  for (auto& c : bytes) c = static_cast<char>(rng());
  test::write_text(dir / "noise.pt", bytes);
  expect_contains(load_error(dir / "noise.pt"), "not a TorchScript file");
}

TEST(BadModel, RandomBytesAfterAZipSignature) {
  test::ScratchDir dir;
  std::mt19937 rng(std::random_device{}());
  std::string bytes = "PK\x03\x04";
  for (int i = 0; i < 4096; ++i) bytes.push_back(static_cast<char>(rng()));
  test::write_text(dir / "noise.pt", bytes);
  expect_contains(load_error(dir / "noise.pt"), "not a TorchScript file, or it is truncated");
}

TEST(BadModel, TruncatedFile) {
  test::ScratchDir dir;
  const std::string whole = test::read_text(test::tiny_gpt2());
  test::write_text(dir / "cut.pt", whole.substr(0, whole.size() / 2));
  expect_contains(load_error(dir / "cut.pt"), "truncated");
}

TEST(BadModel, OperatorFromANewerPyTorch) {
  test::ScratchDir dir;
  // An aten operator this libtorch does not know, as a newer one might have.
  replace_in_code(test::tiny_gpt2(), dir / "newer.pt", "torch.softmax(", "torch.softmax_from_2030(");
  const std::string msg = load_error(dir / "newer.pt");
  expect_contains(msg, "aten::softmax_from_2030");
  expect_contains(msg, "newer");
}

TEST(BadModel, UnregisteredCustomOperator) {
  test::ScratchDir dir;
  replace_in_code(test::tiny_gpt2(), dir / "custom.pt", "torch.softmax(", "ops.mlopt_missing.attention(");
  const std::string msg = load_error(dir / "custom.pt");
  expect_contains(msg, "mlopt_missing::attention");
}

TEST(BadModel, ArchiveWithoutCode) {
  test::ScratchDir dir;
  {
    caffe2::serialize::PyTorchStreamWriter writer((dir / "weights.pt").string());
    const std::string pickle = "\x80\x02}q\x00.";  // an empty dict, as torch.save writes one
    writer.writeRecord("data.pkl", pickle.data(), pickle.size());
    writer.writeEndOfFile();
  }
  expect_contains(load_error(dir / "weights.pt"), "not a TorchScript module");
}
