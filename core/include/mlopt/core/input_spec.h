#pragma once
// InputSpec: what to feed a model's forward, written as text on the command
// line and in project files.
//
//   SPEC   := TENSOR (';' TENSOR)*
//   TENSOR := [NAME ':'] DTYPE '[' DIM (',' DIM)* ']' ['=' LOW '..' HIGH]
//
// e.g. "ids:int64[8,1024]", "x:fp16[4,128,768]=-1..1",
// "ids:int64[1,128]=0..50257; mask:bool[1,128]". Integers are drawn uniformly
// from [LOW, HIGH); floats uniformly from [LOW, HIGH), or from N(0,1) when no
// range is given. Integer inputs without a range that feed an embedding draw
// from [0, rows of that embedding); others from [0, 2) (bool) or [0, 100).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mlopt/core/dtype.h"

namespace mlopt {

struct TensorSpec {
  std::string name;  // empty: matched by position
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::optional<double> low;   // both set or both unset
  std::optional<double> high;

  int64_t numel() const;
  bool operator==(const TensorSpec&) const = default;
};

struct InputSpec {
  std::vector<TensorSpec> tensors;

  // Throws InputSpecError with the offending text and the expected syntax.
  static InputSpec parse(std::string_view text);
  // Joins several specs (e.g. repeated --input flags).
  static InputSpec parse_all(const std::vector<std::string>& texts);
  std::string to_string() const;

  // Tokens processed per forward: the element count of the first integer
  // input (token ids [batch, seq]); else batch x seq of the first input of
  // rank >= 2; else the first dimension of the first input.
  int64_t tokens_per_forward() const;
  bool operator==(const InputSpec&) const = default;
};

}  // namespace mlopt
