// cuBLASLt matmuls for the MLP: row-major d[m, n] = x[m, k] . w^T with
// bias, ReLU / GELU (tanh form) and the residual (beta * C) fused into
// cuBLASLt's epilogue. fp32 accumulation and scaling. One handle per device
// and one heuristic answer per problem shape are cached.
//
// cuBLASLt is column-major: the row-major [m, n] output is a column-major
// [n, m] matrix, so we ask for D^T = W . X^T with A = the weight (an [out,
// in] weight is a column-major [in, out] matrix, used transposed; an [in,
// out] weight is a column-major [out, in] matrix, used as is) and B = X^T
// (x is a column-major [k, m] matrix). The bias then runs along D's rows,
// as cuBLASLt's bias epilogue wants.
#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "mlopt/kernels/cuda_check.h"
#include "mlp_dispatch.h"

namespace mlopt::kernels::mlp_detail {
namespace {

[[noreturn]] void throw_cublas(cublasStatus_t status, const char* call, int line) {
  throw std::runtime_error(std::string("mlp: cuBLASLt call failed: ") + call + " returned " +
                           cublasLtGetStatusString(status) + " (mlp_cublaslt.cpp:" + std::to_string(line) + ")");
}

#define MLOPT_CUBLASLT_CHECK(call)                                                      \
  do {                                                                                  \
    const cublasStatus_t mlopt_cublas_status_ = (call);                                  \
    if (mlopt_cublas_status_ != CUBLAS_STATUS_SUCCESS) throw_cublas(mlopt_cublas_status_, #call, __LINE__); \
  } while (0)

// Handles live until the process ends: destroying them from a static
// destructor could run after the CUDA runtime has shut down.
cublasLtHandle_t handle_for(int device) {
  static std::mutex mutex;
  static std::map<int, cublasLtHandle_t> handles;
  const std::lock_guard<std::mutex> lock(mutex);
  auto it = handles.find(device);
  if (it == handles.end()) {
    cublasLtHandle_t handle = nullptr;
    MLOPT_CUBLASLT_CHECK(cublasLtCreate(&handle));
    it = handles.emplace(device, handle).first;
  }
  return it->second;
}

struct DescDeleter {
  void operator()(cublasLtMatmulDescOpaque_t* d) const { cublasLtMatmulDescDestroy(d); }
};
struct LayoutDeleter {
  void operator()(cublasLtMatrixLayoutOpaque_t* l) const { cublasLtMatrixLayoutDestroy(l); }
};
struct PreferenceDeleter {
  void operator()(cublasLtMatmulPreferenceOpaque_t* p) const { cublasLtMatmulPreferenceDestroy(p); }
};
using Desc = std::unique_ptr<cublasLtMatmulDescOpaque_t, DescDeleter>;
using Layout = std::unique_ptr<cublasLtMatrixLayoutOpaque_t, LayoutDeleter>;
using Preference = std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, PreferenceDeleter>;

Layout column_major(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld) {
  cublasLtMatrixLayout_t layout = nullptr;
  MLOPT_CUBLASLT_CHECK(cublasLtMatrixLayoutCreate(&layout, type, static_cast<uint64_t>(rows),
                                                  static_cast<uint64_t>(cols), ld));
  return Layout(layout);
}

template <typename T>
void set(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attribute, const T& value) {
  MLOPT_CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(desc, attribute, &value, sizeof value));
}

cublasLtEpilogue_t epilogue_for(Activation activation, bool bias) {
  switch (activation) {
    case Activation::kNone: return bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    case Activation::kRelu: return bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU;
    case Activation::kGeluTanh: return bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
    default: break;
  }
  throw std::invalid_argument(std::string("mlp: cuBLASLt has no epilogue for activation ") + to_string(activation));
}

// The heuristic's first answer per problem (or the forced one); everything
// it depends on is in the key (all pointers are 16-byte aligned: mlp_forward
// checks). Cached, so that a call costs no heuristic query after the first.
using PlanKey = std::tuple<int, int, int, int, int64_t, int, int, int, bool, std::size_t>;
// device, m, n, k, a's row stride, layout, dtype, epilogue, with C, workspace cap

// The heuristic answer every matmul takes (cublaslt_force_algo); 0: its first.
std::atomic<int> heuristic_answer{0};

cublasLtMatmulAlgo_t cached_algo(const PlanKey& key, cublasLtHandle_t handle, cublasLtMatmulDesc_t desc,
                                 cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c,
                                 cublasLtMatrixLayout_t d, std::size_t workspace_cap) {
  static std::mutex mutex;
  static std::map<std::pair<PlanKey, int>, cublasLtMatmulAlgo_t> algos;  // by key and heuristic answer
  const int answer = heuristic_answer.load();
  const std::pair<PlanKey, int> entry{key, answer};
  {
    const std::lock_guard<std::mutex> lock(mutex);
    const auto it = algos.find(entry);
    if (it != algos.end()) return it->second;
  }
  cublasLtMatmulPreference_t raw = nullptr;
  MLOPT_CUBLASLT_CHECK(cublasLtMatmulPreferenceCreate(&raw));
  const Preference preference(raw);
  const uint64_t cap = workspace_cap;
  MLOPT_CUBLASLT_CHECK(cublasLtMatmulPreferenceSetAttribute(raw, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &cap,
                                                            sizeof cap));
  std::vector<cublasLtMatmulHeuristicResult_t> results(static_cast<std::size_t>(answer) + 1);
  int found = 0;
  MLOPT_CUBLASLT_CHECK(cublasLtMatmulAlgoGetHeuristic(handle, desc, a, b, c, d, raw, static_cast<int>(results.size()),
                                                      results.data(), &found));
  const std::string problem =
      "m=" + std::to_string(std::get<1>(key)) + " n=" + std::to_string(std::get<2>(key)) + " k=" + std::to_string(std::get<3>(key));
  if (found < 1) throw std::runtime_error("mlp: cuBLASLt has no algorithm for " + problem);
  if (answer >= found) {
    throw std::invalid_argument("mlp: cuBLASLt's heuristic offers " + std::to_string(found) + " algorithms for " +
                                problem + ", not an algorithm " + std::to_string(answer));
  }
  const cublasLtMatmulAlgo_t algo = results[static_cast<std::size_t>(answer)].algo;
  const std::lock_guard<std::mutex> lock(mutex);
  algos.emplace(entry, algo);
  return algo;
}

}  // namespace

void cublaslt_force_algo(std::optional<int> index) { heuristic_answer.store(index ? std::max(*index, 0) : 0); }

bool cublaslt_fuses(Activation activation) {
  return activation == Activation::kNone || activation == Activation::kRelu || activation == Activation::kGeluTanh;
}

void cublaslt_matmul(const LtMatmul& mm, WeightLayout layout, MlpDType dtype, cudaStream_t stream, void* workspace,
                     std::size_t workspace_bytes) {
  if (mm.c != nullptr && mm.activation != Activation::kNone) {
    throw std::invalid_argument("mlp: cuBLASLt adds C before the activation; a residual needs kNone");
  }
  int device = 0;
  MLOPT_CUDA_CHECK(cudaGetDevice(&device));
  const cublasLtHandle_t handle = handle_for(device);
  const cudaDataType_t type = dtype == MlpDType::kFloat16 ? CUDA_R_16F : CUDA_R_16BF;
  const bool out_in = layout == WeightLayout::kOutIn;
  const cublasLtEpilogue_t epilogue = epilogue_for(mm.activation, mm.bias != nullptr);

  cublasLtMatmulDesc_t raw_desc = nullptr;
  MLOPT_CUBLASLT_CHECK(cublasLtMatmulDescCreate(&raw_desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const Desc desc(raw_desc);
  set(raw_desc, CUBLASLT_MATMUL_DESC_TRANSA, out_in ? CUBLAS_OP_T : CUBLAS_OP_N);
  set(raw_desc, CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N);
  set(raw_desc, CUBLASLT_MATMUL_DESC_EPILOGUE, epilogue);
  if (mm.bias != nullptr) {
    set(raw_desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, mm.bias);
    set(raw_desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, static_cast<int32_t>(type));
  }

  // A = weight: [out, in] -> column-major k x n (ld k), transposed; [in, out] -> n x k (ld n).
  const Layout a = out_in ? column_major(type, mm.k, mm.n, mm.k) : column_major(type, mm.n, mm.k, mm.n);
  const int64_t lda = mm.lda != 0 ? mm.lda : mm.k;
  if (lda < mm.k) throw std::invalid_argument("mlp: a's row stride is shorter than its row");
  const Layout b = column_major(type, mm.k, mm.m, lda);  // x^T
  const Layout d = column_major(type, mm.n, mm.m, mm.n);  // out^T (and C^T)

  const std::size_t cap = std::min(workspace_bytes, kCublasLtWorkspaceBytes);
  const PlanKey key{device, mm.m, mm.n, mm.k, lda, static_cast<int>(layout), static_cast<int>(dtype),
                    static_cast<int>(epilogue), mm.c != nullptr, cap};
  const cublasLtMatmulAlgo_t algo = cached_algo(key, handle, raw_desc, a.get(), b.get(), d.get(), d.get(), cap);

  const float alpha = 1.0f;
  const float beta = mm.c != nullptr ? 1.0f : 0.0f;
  // With beta = 0, C is not read; cuBLASLt still wants a valid pointer.
  const void* c = mm.c != nullptr ? mm.c : mm.d;
  MLOPT_CUBLASLT_CHECK(cublasLtMatmul(handle, raw_desc, &alpha, mm.w, a.get(), mm.a, b.get(), &beta, c, d.get(), mm.d,
                                      d.get(), &algo, workspace, cap, stream));
}

}  // namespace mlopt::kernels::mlp_detail
