#include <gtest/gtest.h>

#include <map>

#include "mlopt/parallel/world.h"

using namespace mlopt::parallel;

namespace {
EnvLookup env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}
}  // namespace

TEST(World, SingleProcessWithoutVariables) {
  const auto w = world_from_environment(env({}));
  EXPECT_EQ(w.rank, 0);
  EXPECT_EQ(w.world_size, 1);
  EXPECT_FALSE(w.is_distributed());
}

TEST(World, TorchrunTwoNodesOfFour) {
  const auto w = world_from_environment(env({{"RANK", "6"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "2"},
                                             {"LOCAL_WORLD_SIZE", "4"}, {"MASTER_ADDR", "node0"},
                                             {"MASTER_PORT", "29400"}}));
  EXPECT_EQ(w.rank, 6);
  EXPECT_EQ(w.local_rank, 2);
  EXPECT_EQ(w.node_rank(), 1);
  EXPECT_EQ(w.nodes(), 2);
  EXPECT_EQ(w.master_addr, "node0");
  EXPECT_EQ(w.master_port, 29400);
  EXPECT_TRUE(w.is_distributed());
}

TEST(World, LocalRankDefaultsFromRank) {
  const auto w = world_from_environment(env({{"RANK", "3"}, {"WORLD_SIZE", "4"}}));
  EXPECT_EQ(w.local_rank, 3);
  EXPECT_EQ(w.local_world_size, 4);
}

TEST(World, RejectsInconsistentOrMalformedValues) {
  for (const auto& vars : std::vector<std::map<std::string, std::string>>{
           {{"RANK", "0"}},
           {{"WORLD_SIZE", "2"}},
           {{"RANK", "2"}, {"WORLD_SIZE", "2"}},
           {{"RANK", "x"}, {"WORLD_SIZE", "2"}},
           {{"RANK", "0"}, {"WORLD_SIZE", "0"}},
           {{"RANK", "0"}, {"WORLD_SIZE", "6"}, {"LOCAL_WORLD_SIZE", "4"}},
           {{"RANK", "5"}, {"WORLD_SIZE", "8"}, {"LOCAL_WORLD_SIZE", "4"}, {"LOCAL_RANK", "2"}},
           {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}},
           {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", ""}}}) {
    EXPECT_THROW(world_from_environment(env(vars)), WorldError);
  }
}

TEST(World, ErrorNamesTheVariable) {
  try {
    world_from_environment(env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "http"}}));
    FAIL();
  } catch (const WorldError& e) {
    EXPECT_NE(std::string(e.what()).find("MASTER_PORT"), std::string::npos);
  }
}
