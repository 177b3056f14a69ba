#pragma once
// Internal: Megatron-style tensor parallelism as a rewrite of one rank's
// copy of the frozen graph, after the attention and MLP passes have turned
// the blocks into mlopt::flash_attention and mlopt::fused_mlp calls (so the
// blocks are already recognised, whatever form the model wrote them in).
//
// Attention: the projections that feed the call's q, k and v (separate, or
// one fused qkv projection split in three) become column-parallel, keeping
// this rank's heads (GPT-2's c_attn is split per head inside each of q, k
// and v); the head counts in the views and splits between them are divided
// by the world size; the projection the call's output feeds becomes
// row-parallel, its bias kept on rank 0 only, followed by mlopt::all_reduce.
// MLP: w_up keeps this rank's d_ff features (gate and up pairs together),
// w_down the matching inputs, b_down and the fused residual stay on rank 0,
// and the output is all-reduced. Everything else is replicated.
#include <torch/csrc/jit/ir/ir.h>

#include <cstdint>
#include <string>
#include <vector>

#include "mlopt/core/tensor_parallel.h"
#include "mlopt/core/torch_bridge.h"

namespace mlopt::transforms {

struct ShardResult {
  std::vector<ShardedBlock> sharded;
  std::vector<PassMiss> missed;  // blocks left replicated, and why
};

// Rewrites `graph` (a clone: its constants are replaced, not changed) into
// rank `rank` of `world`. `context` holds the unsharded graph's probed shapes.
// `sequence_parallel`: fused residuals are added after the all-reduce
// instead (apply_sequence_parallel then splits that add along the sequence).
ShardResult shard_tensor_parallel(torch::jit::Graph& graph, const RewriteContext& context, int rank, int world,
                                  bool sequence_parallel = false);

struct SequenceParallelResult {
  int reduce_scatters = 0;    // all-reduces replaced
  int all_gathers = 0;        // where a full sequence is needed again
  int local_ops = 0;          // ops that now run on this rank's tokens only
  std::vector<PassMiss> missed;  // all-reduces kept, and why
};

// Megatron sequence parallelism on a tensor-parallel rank's graph: each
// all-reduce of hidden states [batch, seq, hidden] becomes a reduce-scatter
// along the sequence; the token-local ops after it (residual adds, norms,
// dropout, elementwise) run on this rank's seq / world tokens; an all-gather
// restores the whole sequence where anything else reads it (the next
// block's projections, shape reads, the outputs). Needs seq % world == 0.
SequenceParallelResult apply_sequence_parallel(torch::jit::Graph& graph, const RewriteContext& context, int world);

struct RingResult {
  int64_t seq = -1;        // the whole sequence the probe saw
  bool zigzag = false;     // causal: chunks r and 2N-1-r per rank
  int attention = 0;       // blocks now mlopt::ring_attention
  int split_inputs = 0;    // model inputs cut to this rank's chunks
  int positions = 0;       // arange positions made global
  int gathered_outputs = 0;
  int64_t kv_elements = 0;  // K of every block, whole sequence (V the same)
  std::string problem;     // why the model cannot run as a ring (nothing changed usefully)
};

// Ring attention (context parallelism) on one rank's copy of a graph whose
// attention the attention pass turned into mlopt::flash_attention: inputs
// with the sequence at dimension 1 are cut to this rank's chunks (zigzag for
// causal models), positions from arange over the sequence become global,
// every attention block runs mlopt::ring_attention, and outputs with the
// sequence are gathered back in order. Everything else runs on seq / world
// tokens unchanged (decoder layers are token-local outside attention).
RingResult apply_ring_attention(torch::jit::Graph& graph, const RewriteContext& context, int world);

}  // namespace mlopt::transforms
