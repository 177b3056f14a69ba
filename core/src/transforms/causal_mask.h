#pragma once
// Recognising a causal mask in the forms real models build it, so that the
// attention pass can replace it by the kernel's own (bottom-right aligned)
// causal masking:
//   - a bool "keep" buffer of the full context, lower-triangular, sliced to
//     the sequence: HF GPT-2's bias[:, :, k-q:k, :k] (or [0:T, 0:T]);
//   - its negation used as a fill mask (masked_fill(logical_not(keep), -inf),
//     masked_fill(keep == 0, ...)), or a strictly upper-triangular buffer;
//   - an additive mask: triu(full([T, T], -inf), 1) built in the graph, or a
//     constant buffer of 0 / -inf (sliced like the bool one).
// Anything else (a padding mask from an input, a sliding window, ...) is not
// causal to us, and the matcher says why.
#include <string>
#include <variant>

#include "graph_match.h"

namespace mlopt::transforms {

struct CausalMask {};  // the mask is exactly bottom-right causal for the scores it meets
using MaskVerdict = std::variant<CausalMask, std::string>;  // or why not

// `m` selects the scores to KEEP (true = visible), e.g. torch.where's condition.
MaskVerdict keep_mask_is_causal(const Value* m);
// `m` selects the scores to FILL (true = hidden), e.g. masked_fill's mask.
MaskVerdict fill_mask_is_causal(const Value* m);
// `m` is added to the scores: 0 where visible, <= -1e4 where hidden.
MaskVerdict additive_mask_is_causal(const Value* m);

}  // namespace mlopt::transforms
