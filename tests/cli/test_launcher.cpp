// `mlopt run --nproc-per-node`'s launcher: the plan checks and the torchrun
// environment (pure), and real launches of /bin/sh children.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "launcher.h"
#include "mlopt/core/error.h"
#include "mlopt/parallel/world.h"

namespace {

using mlopt::cli::LaunchPlan;
using namespace std::chrono_literals;

LaunchPlan two_nodes_of_four() {
  LaunchPlan plan;
  plan.nproc_per_node = 4;
  plan.nnodes = 2;
  plan.node_rank = 1;
  plan.master_addr = "10.0.0.7";
  plan.master_port = 29512;
  return plan;
}

void expect_usage_error(const LaunchPlan& plan, const std::string& part) {
  try {
    mlopt::cli::validate_launch_plan(plan);
    ADD_FAILURE() << "accepted; expected an error naming " << part;
  } catch (const mlopt::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(Launcher, ValidatesThePlan) {
  EXPECT_NO_THROW(mlopt::cli::validate_launch_plan(LaunchPlan{}));
  EXPECT_NO_THROW(mlopt::cli::validate_launch_plan(two_nodes_of_four()));
  LaunchPlan p = two_nodes_of_four();
  p.nproc_per_node = 0;
  expect_usage_error(p, "--nproc-per-node");
  p = two_nodes_of_four();
  p.nnodes = 0;
  expect_usage_error(p, "--nnodes");
  p = two_nodes_of_four();
  p.node_rank = 2;
  expect_usage_error(p, "--node-rank must be in 0..1");
  p.node_rank = -1;
  expect_usage_error(p, "--node-rank");
  p = two_nodes_of_four();
  p.master_port = 0;
  expect_usage_error(p, "--master-port");
  p.master_port = 65536;
  expect_usage_error(p, "--master-port");
  p = two_nodes_of_four();
  p.master_addr.clear();
  expect_usage_error(p, "--master-addr");
}

TEST(Launcher, RankEnvironmentIsTorchruns) {
  const auto env = mlopt::cli::rank_environment(two_nodes_of_four(), 2);
  const std::vector<std::pair<std::string, std::string>> want = {{"RANK", "6"},
                                                                 {"WORLD_SIZE", "8"},
                                                                 {"LOCAL_RANK", "2"},
                                                                 {"LOCAL_WORLD_SIZE", "4"},
                                                                 {"MASTER_ADDR", "10.0.0.7"},
                                                                 {"MASTER_PORT", "29512"}};
  EXPECT_EQ(env, want);
  EXPECT_THROW(mlopt::cli::rank_environment(two_nodes_of_four(), 4), mlopt::UsageError);
  EXPECT_THROW(mlopt::cli::rank_environment(two_nodes_of_four(), -1), mlopt::UsageError);
}

TEST(Launcher, EveryRanksEnvironmentParsesBackToItsPlaceInTheWorld) {
  const LaunchPlan plan = two_nodes_of_four();
  for (int local = 0; local < plan.nproc_per_node; ++local) {
    const auto env = mlopt::cli::rank_environment(plan, local);
    const auto world =
        mlopt::parallel::world_from_environment([&](const std::string& name) -> std::optional<std::string> {
          for (const auto& [k, v] : env) {
            if (k == name) return v;
          }
          return std::nullopt;
        });
    EXPECT_EQ(world.rank, 4 + local);
    EXPECT_EQ(world.world_size, 8);
    EXPECT_EQ(world.local_rank, local);
    EXPECT_EQ(world.local_world_size, 4);
    EXPECT_EQ(world.node_rank(), 1);
    EXPECT_EQ(world.master_addr, "10.0.0.7");
    EXPECT_EQ(world.master_port, 29512);
  }
}

TEST(Launcher, ChildEnvironmentReplacesInheritedRankVariables) {
  const std::vector<std::string> parent = {"PATH=/usr/bin",     "RANK=99", "MASTER_PORT=1",
                                           "MASTER_PORTS=keep", "EMPTY=",  "LOCAL_RANK=5"};
  const auto env = mlopt::cli::child_environment(two_nodes_of_four(), 0, parent);
  auto has = [&](const std::string& entry) { return std::count(env.begin(), env.end(), entry); };
  EXPECT_EQ(has("PATH=/usr/bin"), 1);
  EXPECT_EQ(has("MASTER_PORTS=keep"), 1);
  EXPECT_EQ(has("EMPTY="), 1);
  EXPECT_EQ(has("RANK=99"), 0);
  EXPECT_EQ(has("MASTER_PORT=1"), 0);
  EXPECT_EQ(has("LOCAL_RANK=5"), 0);
  EXPECT_EQ(has("RANK=4"), 1);
  EXPECT_EQ(has("LOCAL_RANK=0"), 1);
  EXPECT_EQ(has("MASTER_PORT=29512"), 1);
  EXPECT_EQ(env.size(), 3u + 6u);
}

// A temporary file standing in for the terminal.
class Capture {
 public:
  Capture() : file_(std::tmpfile()) {}
  ~Capture() {
    if (file_) std::fclose(file_);
  }
  int fd() const { return fileno(file_); }
  std::string text() const {
    std::rewind(file_);
    std::string out;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof(buf), file_)) > 0;) out.append(buf, n);
    return out;
  }

 private:
  std::FILE* file_;
};

LaunchPlan local_shell(int n, const Capture& out, const Capture& err) {
  LaunchPlan plan;
  plan.nproc_per_node = n;
  plan.master_port = 29513;
  plan.program = "/bin/sh";
  plan.stdout_fd = out.fd();
  plan.stderr_fd = err.fd();
  return plan;
}

TEST(Launcher, LaunchesEveryRankWithItsEnvironmentAndPrefixesItsOutput) {
  Capture out, err;
  const int status = mlopt::cli::launch_local_ranks(
      local_shell(2, out, err),
      {"-c",
       "echo \"rank $RANK of $WORLD_SIZE local $LOCAL_RANK/$LOCAL_WORLD_SIZE at $MASTER_ADDR:$MASTER_PORT\"; "
       "printf 'no newline' >&2"});
  EXPECT_EQ(status, 0) << err.text();
  const std::string o = out.text();
  EXPECT_NE(o.find("[rank 0] rank 0 of 2 local 0/2 at 127.0.0.1:29513\n"), std::string::npos) << o;
  EXPECT_NE(o.find("[rank 1] rank 1 of 2 local 1/2 at 127.0.0.1:29513\n"), std::string::npos) << o;
  const std::string e = err.text();
  EXPECT_NE(e.find("[rank 0] no newline\n"), std::string::npos) << e;
  EXPECT_NE(e.find("[rank 1] no newline\n"), std::string::npos) << e;
}

TEST(Launcher, AFailingRankStopsTheOthersAndGivesItsStatus) {
  Capture out, err;
  const auto start = std::chrono::steady_clock::now();
  // Rank 1 fails at once; rank 0 would sleep for a minute unless stopped.
  const int status = mlopt::cli::launch_local_ranks(
      local_shell(2, out, err), {"-c", "if [ \"$RANK\" = 1 ]; then echo failing >&2; exit 3; fi; exec sleep 60"});
  EXPECT_EQ(status, 3);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s) << "the sleeping rank was not stopped";
  const std::string e = err.text();
  EXPECT_NE(e.find("[rank 1] failing\n"), std::string::npos) << e;
  EXPECT_NE(e.find("rank 1 exited with status 3"), std::string::npos) << e;
}

TEST(Launcher, AProgramThatCannotStartIsAnError) {
  Capture out, err;
  LaunchPlan plan = local_shell(2, out, err);
  plan.program = "/nonexistent/mlopt-no-such-program";
  try {
    mlopt::cli::launch_local_ranks(plan, {});
    FAIL() << "no error";
  } catch (const mlopt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("could not start rank 0"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("/nonexistent/mlopt-no-such-program"), std::string::npos) << e.what();
  }
}

}  // namespace
