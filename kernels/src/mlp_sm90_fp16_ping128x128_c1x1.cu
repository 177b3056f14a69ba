// The Hopper up projection, fp16, configuration kPing128x128C1x1 (mlp_sm90.h), both
// weight layouts (mlp_sm90_gemm.cuh); one (dtype, config) per file so builds
// parallelise. sm_90a only.
#include "mlp_sm90_gemm.cuh"

namespace mlopt::kernels::mlp_detail {

Sm90Entry sm90_entry_fp16_ping128x128_c1x1() { return sm90::entry<cutlass::half_t, Sm90GemmConfig::kPing128x128C1x1>(); }

}  // namespace mlopt::kernels::mlp_detail
