#pragma once
// The attention implementations bench_attention compares, each behind one
// signature: enqueue the forward on libtorch's current CUDA stream and
// return the output [batch, heads, q_len, head_dim].
#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <vector>

namespace mlopt::bench {

struct AttentionInputs {
  at::Tensor q, k, v;  // [batch, heads, rows, head_dim], CUDA, fp16 or bf16
  bool causal = false;
  double scale = 0;  // softmax scale, 1/sqrt(head_dim)
};

// Names: "mlopt-sm90", "mlopt-mma", "mlopt-wmma", "mlopt-auto" (mlopt's
// attention_forward with AttentionParams::impl kPrefillSm90, kPrefillMma,
// kPrefillWmma, kAuto) and
// "torch-flash", "torch-cudnn", "torch-efficient" (libtorch's SDPA backends,
// called directly so that none falls back to another).
bool is_mlopt_impl(const std::string& name);

// Whether "mlopt-sm90" can run on the current device: the build has the
// Hopper kernels and the device is compute capability 9.0.
bool mlopt_sm90_available();

// Returns the callable that runs `name` on `inputs`. mlopt's implementations
// write into an output (and workspace) allocated here once, so repeated calls
// time the kernel alone; the output starts as NaN so a kernel that skips
// elements fails the check. Throws what the implementation throws for inputs
// it does not support (std::invalid_argument, c10::Error) and
// std::invalid_argument for an unknown name.
std::function<at::Tensor()> make_attention_runner(const std::string& name, const AttentionInputs& inputs);

// The scratch bytes an mlopt implementation asks for (attention_workspace_bytes);
// 0 for libtorch's.
std::size_t attention_runner_workspace_bytes(const std::string& name, const AttentionInputs& inputs);

}  // namespace mlopt::bench
