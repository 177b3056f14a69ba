// mlopt-studio's command line and the devices it offers.
#include <gtest/gtest.h>

#include "command_line.h"
#include "devices.h"
#include "studio_test_support.h"

using mlopt::studio::parse_command_line;

TEST(StudioCommandLine, FileAndInputs) {
  mlopt::test::ensure_app();
  const auto model = mlopt::test::tiny_gpt2();
  const QString file = mlopt::test::qpath(model);

  auto cl = parse_command_line({"mlopt-studio"});
  EXPECT_TRUE(cl.error.isEmpty());
  EXPECT_TRUE(cl.file.isEmpty());
  EXPECT_TRUE(cl.input.isEmpty());

  cl = parse_command_line({"mlopt-studio", file, "--input", "ids:int64[1,128]"});
  EXPECT_TRUE(cl.error.isEmpty()) << cl.error.toStdString();
  EXPECT_EQ(cl.file, file);
  EXPECT_EQ(cl.input, "ids:int64[1,128]");

  cl = parse_command_line({"mlopt-studio", "-i", "ids:int64[1,8]", "--input", "mask:bool[1,8]", file});
  EXPECT_EQ(cl.input, "ids:int64[1,8]; mask:bool[1,8]");
  EXPECT_EQ(cl.file, file);

  cl = parse_command_line({"mlopt-studio", "--help"});
  EXPECT_TRUE(cl.help);
  EXPECT_TRUE(cl.help_text.contains("--input"));
}

TEST(StudioCommandLine, Mistakes) {
  mlopt::test::ensure_app();
  const QString file = mlopt::test::qpath(mlopt::test::tiny_gpt2());
  auto cl = parse_command_line({"mlopt-studio", file, file});
  EXPECT_TRUE(cl.error.contains("one file at most")) << cl.error.toStdString();
  cl = parse_command_line({"mlopt-studio", "/no/such/model.pt"});
  EXPECT_TRUE(cl.error.contains("is not a file")) << cl.error.toStdString();
  cl = parse_command_line({"mlopt-studio", "--frobnicate"});
  EXPECT_FALSE(cl.error.isEmpty());
  cl = parse_command_line({"mlopt-studio", "--input"});
  EXPECT_FALSE(cl.error.isEmpty());  // the option needs a value
  // Before QApplication takes out its own options, they read as errors, but
  // --help is still seen (main() answers it without a display).
  cl = parse_command_line({"mlopt-studio", "-platform", "offscreen", "--help"});
  EXPECT_FALSE(cl.error.isEmpty());
  EXPECT_TRUE(cl.help);
}

TEST(StudioDevices, CpuFirst) {
  const QStringList devices = mlopt::studio::available_devices();
  ASSERT_FALSE(devices.isEmpty());
  EXPECT_EQ(devices.front(), "cpu");
  for (int i = 1; i < devices.size(); ++i) EXPECT_EQ(devices[i], QStringLiteral("cuda:%1").arg(i - 1));
}
