#include "causal_mask.h"

#include <limits>

namespace mlopt::transforms {
namespace {

// What the constant buffer behind a mask holds in its last two dims.
enum class Pattern { kLowerTriangular, kStrictlyUpper, kOther };

// Over the last two dims of `t` (all leading dims of size 1), which entries
// are "set": for bool/int tensors the nonzero ones, for float tensors (an
// additive mask) the masking ones, after checking the others are 0.
Pattern pattern_of(const at::Tensor& buffer, bool additive) {
  if (buffer.dim() < 2) return Pattern::kOther;
  const auto rows = buffer.size(-2), cols = buffer.size(-1);
  if (rows != cols || buffer.numel() != rows * cols) return Pattern::kOther;
  const auto square = buffer.reshape({rows, cols}).cpu();
  at::Tensor set;
  if (additive) {
    if (!square.is_floating_point()) return Pattern::kOther;
    const auto f = square.to(at::kDouble);
    set = f <= -1e4;
    if (!f.masked_select(set.logical_not()).eq(0).all().item<bool>()) return Pattern::kOther;
  } else {
    if (square.is_floating_point()) return Pattern::kOther;
    set = square.ne(0);
  }
  const auto ones = at::ones({rows, cols}, at::kBool);
  if (set.equal(ones.tril())) return Pattern::kLowerTriangular;
  if (set.equal(ones.triu(1))) return Pattern::kStrictlyUpper;
  return Pattern::kOther;
}

bool full_range(const Node* slice) {
  const auto start = constant_int(slice->input(2));
  const bool from_zero = is_none(slice->input(2)) || (start && *start == 0);
  const auto end = constant_int(slice->input(3));
  const bool to_end = is_none(slice->input(3)) || (end && *end >= std::numeric_limits<int32_t>::max());
  return from_zero && to_end;
}

// A constant buffer sliced to the scores' size, with the meaning `wanted`
// (kLowerTriangular: set where visible; kStrictlyUpper: set where hidden).
// Bottom-right causal when the rows are sliced [s : E] and the columns
// [0 : E] with one E: entry (i, j) is then buffer[s + i][j], visible when
// j <= s + i = i + (kv_len - q_len) since E = kv_len and E - s = q_len.
// Unsliced, the buffer's own size fixes q_len = kv_len, which is causal too.
MaskVerdict sliced_buffer_is(const Value* m, Pattern wanted, bool additive) {
  const Value* rows_end = nullptr;
  const Value* cols_end = nullptr;
  const Value* cols_start = nullptr;
  int sliced = 0;
  const Value* v = m;
  std::vector<const Node*> slices;
  while (const Node* slice = produced_by(v, c10::aten::slice)) {
    if (slice->inputs().size() != 5) return std::string("a slice of the mask with an unexpected signature");
    slices.push_back(slice);
    v = slice->input(0);
  }
  const auto buffer = constant_tensor(v);
  if (!buffer) {
    return std::string("the mask is computed from ") +
           (v->node()->kind() == c10::prim::Param ? "a forward input" : kind_name(v->node())) +
           ", not a constant causal buffer";
  }
  const auto pattern = pattern_of(*buffer, additive);
  if (pattern != wanted) {
    return std::string(pattern == Pattern::kOther ? "the mask buffer is not triangular (not causal)"
                                                  : "the mask buffer is triangular the other way round");
  }
  const int64_t rank = buffer->dim();
  for (const Node* slice : slices) {
    auto dim = constant_int(slice->input(1));
    const auto step = constant_int(slice->input(4));
    if (!dim || !step || *step != 1) return std::string("the mask is sliced with a non-constant dim or a step");
    if (*dim < 0) *dim += rank;
    if (*dim == rank - 2) {
      rows_end = slice->input(3);
      ++sliced;
    } else if (*dim == rank - 1) {
      cols_start = slice->input(2);
      cols_end = slice->input(3);
      ++sliced;
    } else if (!full_range(slice)) {
      return std::string("the mask is sliced along a batch or head dim");
    }
  }
  if (sliced == 0) return CausalMask{};
  if (sliced != 2 || !rows_end || !cols_end) return std::string("the mask is sliced in one of its last two dims only");
  const auto start = constant_int(cols_start);
  if (!(is_none(cols_start) || (start && *start == 0))) return std::string("the mask's columns do not start at 0");
  if (!same_int(rows_end, cols_end)) {
    return std::string("the mask's rows and columns end at different positions (not a causal window)");
  }
  return CausalMask{};
}

}  // namespace

namespace {

// A bool mask that keeps (`keep`) or fills (!keep) what it selects: its
// negations (logical_not, bitwise_not, == 0) flip the meaning, casts keep it.
MaskVerdict boolean_mask_is_causal(const Value* m, bool keep) {
  for (const auto kind : {c10::aten::logical_not, c10::aten::bitwise_not}) {
    if (const Node* n = produced_by(m, kind)) return boolean_mask_is_causal(n->input(0), !keep);
  }
  if (const Node* n = produced_by(m, c10::aten::eq)) {
    const auto zero = constant_number(n->input(1));
    if (zero && *zero == 0) return boolean_mask_is_causal(n->input(0), !keep);
  }
  if (const Node* n = produced_by(m, c10::aten::to)) return boolean_mask_is_causal(n->input(0), keep);
  return sliced_buffer_is(m, keep ? Pattern::kLowerTriangular : Pattern::kStrictlyUpper, false);
}

}  // namespace

MaskVerdict keep_mask_is_causal(const Value* m) { return boolean_mask_is_causal(m, true); }

MaskVerdict fill_mask_is_causal(const Value* m) { return boolean_mask_is_causal(m, false); }

MaskVerdict additive_mask_is_causal(const Value* m) {
  if (const Node* n = produced_by(m, c10::aten::to)) return additive_mask_is_causal(n->input(0));
  // triu(full([T, T], -inf), 1): Llama-style, built in the forward.
  if (const Node* triu = produced_by(m, c10::aten::triu)) {
    const auto diagonal = constant_int(triu->input(1));
    const Node* full = produced_by(triu->input(0), c10::aten::full);
    if (!full || !diagonal || *diagonal != 1) return std::string("an additive mask from triu with diagonal != 1");
    const auto fill = constant_number(full->input(1));
    if (!fill || !is_masking_value(*fill)) return std::string("an additive mask filled with a non-masking value");
    const Node* size = produced_by(full->input(0), c10::prim::ListConstruct);
    if (size && size->inputs().size() == 2 && same_int(size->input(0), size->input(1))) return CausalMask{};
    const auto constant_size = constant_int_list(full->input(0));
    if (constant_size && constant_size->size() == 2 && (*constant_size)[0] == (*constant_size)[1]) {
      return CausalMask{};
    }
    return std::string("an additive triu mask that is not square");
  }
  return sliced_buffer_is(m, Pattern::kStrictlyUpper, true);
}

}  // namespace mlopt::transforms
