#include <gtest/gtest.h>

#include "mlopt/core/torch_bridge.h"

using namespace mlopt;

TEST(Outputs, FlattensNestedContainersWithNames) {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  dict.insert("logits", torch::randn({2, 3}));
  dict.insert("past", c10::ivalue::Tuple::create({torch::randn({1}), torch::randn({4, 4})}));
  const c10::IValue out = c10::ivalue::Tuple::create(
      {torch::randn({5}), c10::IValue(dict), c10::IValue(c10::List<at::Tensor>({torch::ones({2}, torch::kLong)})),
       c10::IValue()});
  const auto flat = flatten_outputs(out);
  std::vector<std::string> names;
  for (const auto& [name, t] : flat) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"output[0]", "output[1]['logits']", "output[1]['past'][0]",
                                             "output[1]['past'][1]", "output[2][0]"}));
  const auto infos = describe_outputs(out);
  EXPECT_EQ(infos[4].dtype, DType::I64);
  EXPECT_EQ(infos[3].shape, (std::vector<int64_t>{4, 4}));
}

TEST(Outputs, DetectsNonFiniteValues) {
  auto t = torch::randn({8});
  EXPECT_TRUE(describe_outputs(c10::IValue(t))[0].all_finite);
  t[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(describe_outputs(c10::IValue(t))[0].all_finite);
  auto h = torch::randn({4}).to(torch::kHalf);
  h[0] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(describe_outputs(c10::IValue(h))[0].all_finite);
}
