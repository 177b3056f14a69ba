#include <gtest/gtest.h>

#include "mlopt/core/error.h"
#include "mlopt/core/input_spec.h"

using mlopt::DType;
using mlopt::InputSpec;
using mlopt::InputSpecError;

TEST(InputSpec, ParsesNamedTokenIds) {
  const auto spec = InputSpec::parse("ids:int64[8,1024]");
  ASSERT_EQ(spec.tensors.size(), 1u);
  EXPECT_EQ(spec.tensors[0].name, "ids");
  EXPECT_EQ(spec.tensors[0].dtype, DType::I64);
  EXPECT_EQ(spec.tensors[0].shape, (std::vector<int64_t>{8, 1024}));
  EXPECT_FALSE(spec.tensors[0].low.has_value());
  EXPECT_EQ(spec.tokens_per_forward(), 8 * 1024);
}

TEST(InputSpec, ParsesSeveralWithRangesAndSpaces) {
  const auto spec = InputSpec::parse(" ids : i64 [ 2 , 16 ] = 0..50257 ; x:fp16[2,16,64]=-1.5..2.5;mask:bool[2,16]");
  ASSERT_EQ(spec.tensors.size(), 3u);
  EXPECT_EQ(*spec.tensors[0].low, 0);
  EXPECT_EQ(*spec.tensors[0].high, 50257);
  EXPECT_EQ(spec.tensors[1].dtype, DType::F16);
  EXPECT_DOUBLE_EQ(*spec.tensors[1].low, -1.5);
  EXPECT_DOUBLE_EQ(*spec.tensors[1].high, 2.5);
  EXPECT_EQ(spec.tensors[2].dtype, DType::Bool);
  EXPECT_EQ(spec.tokens_per_forward(), 32);
}

TEST(InputSpec, UnnamedAndScalar) {
  const auto spec = InputSpec::parse("fp32[4,3];fp32[]");
  EXPECT_TRUE(spec.tensors[0].name.empty());
  EXPECT_TRUE(spec.tensors[1].shape.empty());
  EXPECT_EQ(spec.tensors[1].numel(), 1);
  EXPECT_EQ(spec.tokens_per_forward(), 12);  // batch x seq of the first input
}

TEST(InputSpec, RoundTripsThroughText) {
  for (const char* text : {"ids:int64[8,1024]", "ids:int64[1,128]=0..50257;x:bf16[1,128,768]=-1..1",
                           "fp32[3]", "m:bool[2,2]=0..2", "x:fp32[2]=-0.25..0.75"}) {
    const auto spec = InputSpec::parse(text);
    EXPECT_EQ(spec.to_string(), text);
    EXPECT_EQ(InputSpec::parse(spec.to_string()), spec);
  }
}

TEST(InputSpec, ParseAllJoinsRepeatedFlags) {
  const auto spec = InputSpec::parse_all({"ids:int64[1,8]", "mask:bool[1,8]"});
  ASSERT_EQ(spec.tensors.size(), 2u);
  EXPECT_EQ(spec.tensors[1].name, "mask");
}

TEST(InputSpec, RejectsMalformedTextWithTheSyntax) {
  for (const char* bad : {"", ";", "ids:int64", "ids:int64[8,", "ids:int77[8]", "ids:int64[0,4]", "ids:int64[-1]",
                          "ids:int64[a,4]", "1ids:int64[4]", "ids:int64[4]=5..1", "ids:int64[4]=1..", "ids:int64[4]x",
                          "ids:int64[2];ids:int64[2]", "m:bool[2]=0..5", ":fp32[2]"}) {
    try {
      InputSpec::parse(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const InputSpecError& e) {
      const std::string msg = e.what();
      EXPECT_FALSE(msg.empty());
      if (std::string(bad).find("int77") != std::string::npos) {
        EXPECT_NE(msg.find("int77"), std::string::npos) << msg;
      }
    }
  }
}

TEST(InputSpec, ErrorNamesTheOffendingItem) {
  try {
    InputSpec::parse("ids:int64[8,1024];x:fp16[2,zz]");
    FAIL();
  } catch (const InputSpecError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("x:fp16[2,zz]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("NAME:DTYPE"), std::string::npos) << msg;
  }
}
