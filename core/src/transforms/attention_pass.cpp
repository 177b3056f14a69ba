// The attention pass: finds every softmax, walks back to the scores matmul
// and forward to the values matmul, and replaces the block by one
// mlopt::flash_attention call. aten::scaled_dot_product_attention calls are
// replaced too where the libtorch has them.
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <sstream>
#include <variant>

#include "causal_mask.h"
#include "graph_info.h"
#include "passes.h"

namespace mlopt::transforms {
namespace {

const c10::Symbol kFlashAttention = c10::Symbol::fromQualString("mlopt::flash_attention");
const c10::Symbol kSdpa = c10::Symbol::fromQualString("aten::scaled_dot_product_attention");

struct Match {
  Value* q = nullptr;
  Value* k = nullptr;
  Value* v = nullptr;
  bool causal = false;
  double scale = 1.0;
  Value* output = nullptr;  // the value the flash_attention call replaces
  Node* anchor = nullptr;   // where the call goes (the values matmul / the sdpa call)
  int kv_repeat = 1;        // >1 when k/v were repeated to the query heads (GQA)
};

using Verdict = std::variant<Match, std::string>;

// k^T as the scores matmul reads it: transpose(k, -1, -2) (or 2, 3 for the
// rank-4 tensors attention has), or permute(k, [0, 1, 3, 2]).
Value* untransposed(Value* kt) {
  if (const Node* t = produced_by(kt, c10::aten::transpose)) {
    auto a = constant_int(t->input(1)), b = constant_int(t->input(2));
    if (!a || !b) return nullptr;
    const auto normal = [](int64_t d) { return d < 0 ? d + 4 : d; };
    const int64_t x = normal(*a), y = normal(*b);
    if (std::min(x, y) == 2 && std::max(x, y) == 3) return t->input(0);
    return nullptr;
  }
  if (const Node* p = produced_by(kt, c10::aten::permute)) {
    const auto dims = constant_int_list(p->input(1));
    if (dims && *dims == std::vector<int64_t>{0, 1, 3, 2}) return p->input(0);
  }
  return nullptr;
}

// HF's repeat_kv: reshape(expand(unsqueeze(kv, 2), [B, KV, R, T, D]), [B, KV*R, T, D]),
// or repeat_interleave(kv, R, dim=1): head h reads kv head h / R, which is
// how the kernel maps query heads to kv heads. Returns kv, or null.
Value* unrepeated(Value* x, const PassContext& context, int& repeat) {
  if (const Node* r = produced_by(x, c10::aten::repeat_interleave)) {
    if (r->inputs().size() >= 3) {
      const auto times = constant_int(r->input(1));
      const auto dim = constant_int(r->input(2));
      if (times && dim && *dim == 1) {
        repeat = static_cast<int>(*times);
        return r->input(0);
      }
    }
    return nullptr;
  }
  const Node* reshape = produced_by(x, c10::aten::reshape);
  if (!reshape) return nullptr;
  const Node* expand = produced_by(reshape->input(0), c10::aten::expand);
  if (!expand) return nullptr;
  const Node* unsqueeze = produced_by(expand->input(0), c10::aten::unsqueeze);
  if (!unsqueeze || constant_int(unsqueeze->input(1)) != std::optional<int64_t>(2)) return nullptr;
  const auto* kv = shape_of(context, unsqueeze->input(0));
  const auto* out = shape_of(context, x);
  // Checked on the probed shapes: [B, KV, T, D] became [B, KV * R, T, D]
  // with the same B, T, D.
  if (!kv || !out || kv->shape.size() != 4 || out->shape.size() != 4) return nullptr;
  const auto& a = kv->shape;
  const auto& b = out->shape;
  if (a[0] != b[0] || a[2] != b[2] || a[3] != b[3] || b[1] % a[1] != 0) return nullptr;
  repeat = static_cast<int>(b[1] / a[1]);
  return unsqueeze->input(0);
}

// The mask's shape must be the scores' [.., q_len, kv_len]: a mask that
// broadcasts over them means something else.
std::optional<std::string> mask_fits(const PassContext& context, const Value* mask, const Value* scores) {
  const auto* m = shape_of(context, mask);
  const auto* s = shape_of(context, scores);
  if (!m || !s || m->shape.size() < 2 || s->shape.size() < 2) return std::nullopt;  // not probed: trust the pattern
  if (m->shape.end()[-1] != s->shape.end()[-1] || m->shape.end()[-2] != s->shape.end()[-2]) {
    return "the mask's last dims do not match the scores' [q_len, kv_len] (it broadcasts)";
  }
  return std::nullopt;
}

Verdict match_softmax(Node* softmax, const PassContext& context) {
  Match m;
  const auto dim = constant_int(softmax->input(1));
  if (!dim || (*dim != -1 && *dim != 3)) return std::string("softmax is not over the last dim");

  // Forward: softmax -> [to(dtype)] -> [dropout(train=False)] -> matmul(P, V).
  Value* p = softmax->output();
  for (;;) {
    if (p->uses().size() != 1) {
      return std::string("the attention probabilities are also used elsewhere (returned as an output?)");
    }
    Node* user = p->uses()[0].user;
    if (user->kind() == c10::aten::to || user->kind() == c10::aten::type_as) {
      p = user->output();
      continue;
    }
    if (user->kind() == c10::aten::dropout) {
      const auto train = constant_bool(user->input(2));
      if (!train || *train) return std::string("dropout on the probabilities in training mode");
      p = user->output();
      continue;
    }
    if (user->kind() != c10::aten::matmul || user->input(0) != p) {
      return "the probabilities go to " + kind_name(user) + ", not a matmul with V";
    }
    m.anchor = user;
    m.v = user->input(1);
    m.output = user->output();
    break;
  }

  // Backward: the scores through casts, scaling and masking to matmul(Q, K^T).
  Value* s = softmax->input(0);
  const Node* consumer = softmax;
  bool masked = false, scaled = false;
  for (;;) {
    if (!used_only_by(s, consumer)) return std::string("the attention scores are also used elsewhere");
    Node* n = s->node();
    const auto kind = n->kind();
    if (kind == c10::aten::matmul) break;
    if (kind == c10::aten::to) {
      consumer = n;
      s = n->input(0);
      continue;
    }
    if ((kind == c10::aten::div || kind == c10::aten::mul) && !scaled) {
      const auto c = constant_number(n->input(1));
      const auto c0 = kind == c10::aten::mul ? constant_number(n->input(0)) : std::nullopt;
      if (c && *c != 0) {
        m.scale *= kind == c10::aten::div ? 1.0 / *c : *c;
        s = n->input(0);
      } else if (c0) {
        m.scale *= *c0;
        s = n->input(1);
      } else {
        return "the scores are scaled by a non-constant " + kind_name(n);
      }
      scaled = true;
      consumer = n;
      continue;
    }
    if ((kind == c10::aten::masked_fill || kind == c10::aten::where || kind == c10::aten::add) && !masked) {
      MaskVerdict verdict;
      const Value* mask = nullptr;
      Value* scores = nullptr;
      if (kind == c10::aten::masked_fill) {
        const auto fill = constant_number(n->input(2));
        if (!fill || !is_masking_value(*fill)) return std::string("masked_fill with a value that does not mask");
        mask = n->input(1);
        scores = n->input(0);
        verdict = fill_mask_is_causal(mask);
      } else if (kind == c10::aten::where) {
        const auto fill = constant_number(n->input(2));
        if (!fill || !is_masking_value(*fill)) return std::string("where() with an 'other' that does not mask");
        mask = n->input(0);
        scores = n->input(1);
        verdict = keep_mask_is_causal(mask);
      } else {
        if (n->inputs().size() != 3 || constant_number(n->input(2)) != std::optional<double>(1.0)) {
          return std::string("an add with alpha != 1 on the scores");
        }
        // Either operand may be the mask; the scores come from the matmul side.
        const bool mask_first = n->input(1)->node()->kind() == c10::aten::matmul ||
                                n->input(1)->node()->kind() == c10::aten::div ||
                                n->input(1)->node()->kind() == c10::aten::mul;
        mask = mask_first ? n->input(0) : n->input(1);
        scores = mask_first ? n->input(1) : n->input(0);
        verdict = additive_mask_is_causal(mask);
      }
      if (auto* why = std::get_if<std::string>(&verdict)) return *why;
      if (auto why = mask_fits(context, mask, n->output())) return *why;
      m.causal = true;
      masked = true;
      consumer = n;
      s = scores;
      continue;
    }
    return "an " + kind_name(n) + " between the scores matmul and the softmax";
  }
  Node* qk = s->node();
  m.k = untransposed(qk->input(1));
  if (!m.k) return std::string("the scores matmul's second operand is not K transposed");
  m.q = qk->input(0);
  // Scaling folded into q (q * c or q / c) joins the softmax scale.
  if (Node* qs = m.q->node(); (qs->kind() == c10::aten::mul || qs->kind() == c10::aten::div) && !scaled) {
    const auto c = constant_number(qs->input(1));
    if (c && *c != 0 && used_only_by(m.q, qk)) {
      m.scale *= qs->kind() == c10::aten::div ? 1.0 / *c : *c;
      m.q = qs->input(0);
    }
  }

  int k_repeat = 1, v_repeat = 1;
  Value* k = unrepeated(m.k, context, k_repeat);
  Value* v = unrepeated(m.v, context, v_repeat);
  if (k && v && k_repeat == v_repeat) {
    m.k = k;
    m.v = v;
    m.kv_repeat = k_repeat;
  }
  return m;
}

Verdict match_sdpa(Node* sdpa) {
  // scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0,
  // is_causal=False, scale=None[, enable_gqa=False]).
  if (!is_none(sdpa->input(3))) return std::string("scaled_dot_product_attention with an explicit attn_mask");
  const auto dropout = constant_number(sdpa->input(4));
  if (!dropout || *dropout != 0.0) return std::string("scaled_dot_product_attention with dropout");
  const auto causal = constant_bool(sdpa->input(5));
  if (!causal) return std::string("scaled_dot_product_attention with a non-constant is_causal");
  Match m;
  m.q = sdpa->input(0);
  m.k = sdpa->input(1);
  m.v = sdpa->input(2);
  m.causal = *causal;
  m.scale = 0;  // 0: the op's default, 1/sqrt(head_dim)
  if (sdpa->inputs().size() > 6 && !is_none(sdpa->input(6))) {
    const auto scale = constant_number(sdpa->input(6));
    if (!scale) return std::string("scaled_dot_product_attention with a non-constant scale");
    m.scale = *scale;
  }
  // SDPA's causal mask is aligned top-left; the kernel's bottom-right. They
  // agree when q_len == kv_len, which the context check below enforces.
  m.anchor = sdpa;
  m.output = sdpa->output();
  return m;
}

// What the kernel that will run the op can take, on the probed shapes.
std::optional<std::string> unsupported(const Match& m, const PassContext& context, bool top_left_causal) {
  const auto* q = shape_of(context, m.q);
  const auto* k = shape_of(context, m.k);
  if (!q || !k) return std::string("q/k were not computed at the top level of the graph (inside a loop or branch?)");
  if (q->shape.size() != 4 || k->shape.size() != 4) return std::string("q and k are not [batch, heads, seq, head_dim]");
  if (top_left_causal && q->shape[2] != k->shape[2]) {
    return std::string("causal SDPA with q_len != kv_len (aligned top-left, the kernel aligns bottom-right)");
  }
  if (context.device.is_cuda()) {
    const auto d = q->shape[3];
    if (d != 64 && d != 128) {
      return "head_dim " + std::to_string(d) + ": mlopt's CUDA attention kernel takes 64 and 128";
    }
    if (q->dtype != at::kHalf && q->dtype != at::kBFloat16) {
      return std::string("the CUDA attention kernel takes fp16 or bf16, and q is ") + c10::toString(q->dtype) +
             " (load the model with --dtype fp16)";
    }
  }
  return std::nullopt;
}

std::string describe(const Match& m, const PassContext& context) {
  std::ostringstream s;
  s << (m.causal ? "causal" : "non-causal");
  if (m.scale != 0) s << ", scale " << m.scale;
  if (const auto* q = shape_of(context, m.q)) {
    if (q->shape.size() == 4) s << ", " << q->shape[1] << " heads x " << q->shape[3];
  }
  if (m.kv_repeat > 1) s << ", GQA (k/v shared by " << m.kv_repeat << " query heads)";
  return s.str();
}

}  // namespace

PassResult rewrite_attention(torch::jit::Graph& graph, const PassContext& context) {
  PassResult result;
  std::vector<Node*> anchors;
  for (Node* n : graph.nodes()) {
    if (n->kind() == c10::aten::softmax || n->kind() == kSdpa) anchors.push_back(n);
  }
  for (Node* anchor : anchors) {
    const bool is_sdpa = anchor->kind() == kSdpa;
    const std::string module = module_path_of(anchor);
    auto verdict = is_sdpa ? match_sdpa(anchor) : match_softmax(anchor, context);
    if (auto* why = std::get_if<std::string>(&verdict)) {
      result.missed.push_back({module, kind_name(anchor), *why});
      continue;
    }
    auto& m = std::get<Match>(verdict);
    if (auto why = unsupported(m, context, is_sdpa && m.causal)) {
      result.missed.push_back({module, kind_name(anchor), *why});
      continue;
    }
    torch::jit::WithInsertPoint at(m.anchor);
    c10::IValue scale = m.scale == 0 ? c10::IValue() : c10::IValue(m.scale);
    auto* call = graph.insert(kFlashAttention, {m.q, m.k, m.v, m.causal, scale});
    replace_value(m.output, call, anchor);
    result.matched.push_back({module, describe(m, context)});
  }
  torch::jit::EliminateDeadCode(graph.block());
  return result;
}

}  // namespace mlopt::transforms
