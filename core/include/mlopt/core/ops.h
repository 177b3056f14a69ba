#pragma once
// mlopt's TorchScript operators (namespace mlopt::), registered with libtorch
// when core is linked: transformed graphs call them, and saved models that
// use them load wherever this library is loaded.
//
//   mlopt::flash_attention(Tensor q, Tensor k, Tensor v, bool is_causal=False,
//                          float? scale=None) -> Tensor
//     q [batch, heads, q_len, head_dim], k/v [batch, kv_heads, kv_len, head_dim]
//     (kv_heads divides heads), causal mask aligned bottom-right, scale
//     defaults to 1/sqrt(head_dim). CPU: the reference (fp32 math); CUDA:
//     mlopt's tiled kernel (fp16/bf16, head dims 64 and 128).
//
//   mlopt::fused_mlp(Tensor x, Tensor w_up, Tensor? b_up, Tensor w_down,
//                    Tensor? b_down, str activation='gelu_tanh', bool gated=False,
//                    str layout='out_in', Tensor? residual=None,
//                    str gate_up='concatenated') -> Tensor
//     out = act(x W_up^T + b_up) W_down^T + b_down (+ residual), x [..., d_model];
//     gated: act(gate) * up from one w_up holding both (2 d_ff outputs,
//     'concatenated' [gate; up] or 'interleaved' feature by feature), so a
//     rewrite for Llama passes cat([gate_proj.weight, up_proj.weight]) (a
//     constant after freezing). activation: none, relu, gelu (erf), gelu_tanh,
//     silu (SwiGLU = silu + gated). layout: 'out_in' (nn.Linear weights) or
//     'in_out' (GPT-2 Conv1D). CPU: the reference (fp32 math, h rounded to
//     the input dtype); CUDA: mlopt's fused MLP (fp16/bf16, d_model and d_ff
//     multiples of 8).
namespace mlopt {

// Returns true; calling it makes sure the registering translation units are
// linked into the program (static libraries drop unreferenced objects).
bool ops_registered();

}  // namespace mlopt
