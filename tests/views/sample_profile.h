#pragma once
// A hand-made ProfileResult with known numbers: what the views' model,
// timeline and chart tests show. `gpu` adds kernels on two streams,
// correlated to op calls (one through a nested call, one not at all).
#include "mlopt/profiler/profile_result.h"

namespace mlopt::test {

inline profiler::OpEvent op_event(uint64_t id, uint64_t parent, const char* name, int64_t start_ns, int64_t end_ns,
                                  int depth, const char* module, int node) {
  profiler::OpEvent e;
  e.id = id;
  e.parent = parent;
  e.name = name;
  e.start_ns = start_ns;
  e.end_ns = end_ns;
  e.depth = depth;
  e.module_path = module;
  e.node_index = node;
  return e;
}

inline profiler::OpSummary op_summary(const char* name, const char* module, int node, const char* category,
                                      double calls, double total_us, double self_us, profiler::Bound bound,
                                      double tflops, double gbps, double share, bool known = true) {
  profiler::OpSummary o;
  o.name = name;
  o.module_path = module;
  o.node_index = node;
  o.category = category;
  o.calls = calls;
  o.cpu_total_us = total_us;
  o.cpu_self_us = self_us;
  o.cost.known = known;
  o.roofline.bound = bound;
  o.roofline.achieved_tflops = tflops;
  o.roofline.achieved_gbps = gbps;
  o.roofline.share_of_ceiling = share;
  return o;
}

inline profiler::ProfileResult sample_profile(bool gpu = false) {
  using profiler::Bound;
  profiler::ProfileResult p;
  p.model_path = "/models/gpt2.pt";
  p.spec = InputSpec::parse("ids:int64[1,16]");
  p.device_name = "Test CPU";
  p.iterations = 3;
  p.iteration_us = 12000;
  p.mean_iteration_us = 12000;
  p.unprofiled_iteration_us = 11000;
  p.categories = {{profiler::kAttention, 6000, 0.5, Bound::Memory, 3000},
                  {profiler::kMlp, 4000, 1.0 / 3, Bound::Compute, 500},
                  {profiler::kIdle, 2000, 1.0 / 6, Bound::Unknown, 0}};
  p.modules = {{"transformer.h.0.attn", 3000, 0.25, Bound::Memory, 1500},
               {"transformer.h.1.attn", 2900, 0.24, Bound::Memory, 1400},
               {"transformer.h.0.mlp", 2000, 1.0 / 6, Bound::Compute, 250},
               {"lm_head", 1000, 1.0 / 12, Bound::Compute, 0}};
  p.ops = {op_summary("aten::matmul", "transformer.h.0.attn", 5, profiler::kAttention, 2, 2500, 2400, Bound::Memory,
                      0.5, 12.5, 0.1),
           op_summary("aten::addmm", "transformer.h.0.mlp", 9, profiler::kMlp, 1, 1500, 1500, Bound::Compute, 2.25,
                      40, 0.45),
           op_summary("aten::softmax", "transformer.h.0.attn", 7, profiler::kAttention, 1.5, 500, 300,
                      Bound::Latency, 0.001, 3.5, 0.02),
           op_summary("prim::ListConstruct", "", -1, profiler::kOther, 4, 10, 10, Bound::Unknown, 0, 0, 0, false)};
  p.ops[0].input_shapes = {{1, 12, 16, 64}, {1, 12, 64, 16}};
  p.ops[1].input_shapes = {{768}, {16, 768}, {768, 3072}};
  p.recommendations = {
      {"flash_attention", "attention spends 6.0 ms outside its matmuls", 2500, 1.3,
       {"transformer.h.0.attn", "transformer.h.1.attn"}},
      {"fused_mlp", "the MLP's GEMMs run at 45% of the ceiling", 300, 1.03, {"transformer.h.0.mlp"}}};

  // The last iteration: [1.000 ms, 1.012 ms) in the trace clock.
  constexpr int64_t t0 = 1'000'000;
  p.iteration_spans_ns = {{t0 - 24'000, t0 - 12'000}, {t0, t0 + 12'000}};
  p.trace_ops = {op_event(10, 0, "aten::matmul", t0 + 100, t0 + 2'600, 0, "transformer.h.0.attn", 5),
                 op_event(11, 10, "aten::bmm", t0 + 200, t0 + 2'500, 1, "transformer.h.0.attn", -1),
                 op_event(12, 0, "aten::addmm", t0 + 3'000, t0 + 4'500, 0, "transformer.h.0.mlp", 9),
                 op_event(13, 0, "aten::softmax", t0 + 5'000, t0 + 5'500, 0, "transformer.h.0.attn", 7),
                 op_event(14, 13, "aten::_softmax", t0 + 5'050, t0 + 5'450, 1, "transformer.h.0.attn", -1),
                 op_event(15, 14, "aten::empty", t0 + 5'060, t0 + 5'070, 2, "transformer.h.0.attn", -1),
                 op_event(16, 0, "aten::unlisted", t0 + 6'000, t0 + 6'100, 0, "transformer.h.9", 99)};
  p.peak_memory_bytes = 9'000'000;
  p.memory = {{t0, 4'000'000, 4'000'000},
              {t0 + 1'000, 6'000'000, 6'000'000},
              {t0 + 3'000, 8'500'000, 8'500'000},
              {t0 + 6'000, 5'000'000, 5'000'000}};

  if (gpu) {
    p.device = Device{DeviceKind::Cuda, 0};
    p.device_name = "Test GPU";
    p.gpu_busy_us = 7000;
    p.ops[0].gpu_us = 2000;
    p.ops[1].gpu_us = 1200;
    auto kernel = [](const char* name, int64_t start, int64_t end, uint32_t stream, uint32_t correlation) {
      profiler::GpuActivity a;
      a.name = name;
      a.start_ns = start;
      a.end_ns = end;
      a.stream = stream;
      a.correlation_id = correlation;
      return a;
    };
    p.trace_gpu.gpu = {kernel("gemm_kernel", t0 + 400, t0 + 2'400, 7, 100),
                       kernel("gemm_bias_kernel", t0 + 3'200, t0 + 4'400, 7, 101),
                       kernel("softmax_kernel", t0 + 5'200, t0 + 5'400, 13, 102),
                       kernel("orphan_kernel", t0 + 7'000, t0 + 7'500, 13, 999)};
    // bmm (nested in matmul) launched the first kernel: it belongs to matmul.
    p.trace_gpu.correlations = {{11, 100}, {12, 101}, {13, 102}};
    p.kernels.push_back({"gemm_kernel", "aten::matmul", "transformer.h.0.attn", profiler::kAttention, 1, 2000, {}, {}});
    for (auto& m : p.memory) m.reserved_bytes = 20'000'000;
  }
  return p;
}

}  // namespace mlopt::test
