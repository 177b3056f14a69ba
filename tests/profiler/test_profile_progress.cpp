// ProfileOptions::progress: every forward counted once, in order, up to the
// announced total; returning false stops the profile between forwards with
// Cancelled, in the baseline and in the traced iterations, and leaves the
// process able to profile again (no RecordFunction hook left behind).
#include <gtest/gtest.h>

#include <vector>

#include "mlopt/core/model.h"
#include "mlopt/profiler/profiler.h"
#include "test_support.h"

using namespace mlopt;
using namespace mlopt::profiler;

namespace {

CeilingsCache& scratch_cache() {
  static test::ScratchDir dir;
  static CeilingsCache cache(dir / "ceilings.json");
  return cache;
}

ProfileOptions small_options() {
  ProfileOptions options;
  options.warmup = 2;
  options.iterations = 3;
  options.cache = &scratch_cache();
  return options;
}

const InputSpec& spec() {
  static const InputSpec s = InputSpec::parse("ids:int64[1,8]");
  return s;
}

}  // namespace

TEST(ProfileProgress, CountsEveryForwardUpToTheTotal) {
  const auto model = Model::load(test::tiny_gpt2());
  ProfileOptions options = small_options();
  std::vector<std::pair<int, int>> calls;
  options.progress = [&](int done, int total) {
    calls.emplace_back(done, total);
    return true;
  };
  const int total = progress_total(options);
  EXPECT_EQ(total, 2 + 2 * 3 + 1);
  const auto result = profile(model, spec(), options);
  EXPECT_FALSE(result.categories.empty());
  ASSERT_EQ(calls.size(), static_cast<std::size_t>(total + 1));
  for (std::size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].first, static_cast<int>(i));
    EXPECT_EQ(calls[i].second, total);
  }
}

TEST(ProfileProgress, FalseBeforeTheFirstForwardCancelsAtOnce) {
  const auto model = Model::load(test::tiny_gpt2());
  ProfileOptions options = small_options();
  int calls = 0;
  options.progress = [&](int, int) {
    ++calls;
    return false;
  };
  EXPECT_THROW(profile(model, spec(), options), Cancelled);
  EXPECT_EQ(calls, 1);
}

TEST(ProfileProgress, CancelInTheBaselineOrTheTracedForwardsThenProfileAgain) {
  const auto model = Model::load(test::tiny_gpt2());
  ProfileOptions options = small_options();
  const int total = progress_total(options);
  // 1: inside the un-profiled warm-up; total - 1: while the op collector is
  // hooked into RecordFunction, one traced forward before the end.
  for (const int stop_at : {1, total - 1}) {
    SCOPED_TRACE(stop_at);
    int last = -1;
    options.progress = [&](int done, int) {
      last = done;
      return done < stop_at;
    };
    try {
      profile(model, spec(), options);
      ADD_FAILURE() << "profile() did not stop";
    } catch (const Cancelled& e) {
      EXPECT_STREQ(e.what(), "profiling was cancelled");
    }
    EXPECT_EQ(last, stop_at);  // no forward ran after the callback said no
  }
  // A cancelled profile leaves nothing hooked: the next one runs and counts
  // its ops once.
  options.progress = nullptr;
  const auto again = profile(model, spec(), options);
  EXPECT_FALSE(again.ops.empty());
  EXPECT_EQ(again.iterations, 3);
  EXPECT_DOUBLE_EQ(again.attributed_op_share, 1.0);
}

TEST(ProfileProgress, CancelledIsAnMloptError) {
  // The CLI and the GUI catch mlopt::Error to show its message.
  const Cancelled e("profiling was cancelled");
  const Error& base = e;
  EXPECT_STREQ(base.what(), "profiling was cancelled");
}
