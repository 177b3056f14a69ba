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
namespace mlopt {

// Returns true; calling it makes sure the registering translation units are
// linked into the program (static libraries drop unreferenced objects).
bool ops_registered();

}  // namespace mlopt
