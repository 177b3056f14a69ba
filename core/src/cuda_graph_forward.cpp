#include "cuda_graph_forward.h"

#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <sstream>

#include "load_errors.h"
#include "mlopt/core/error.h"

namespace mlopt {
namespace {

class CudaGraphForward final : public ForwardReplacement {
 public:
  CudaGraphForward(torch::jit::Module module, const std::vector<c10::IValue>& inputs)
      : module_(std::move(module)) {
    // The graph reads its inputs from fixed addresses: copies of the first
    // inputs, refilled before each replay.
    for (const auto& input : inputs) {
      static_inputs_.push_back(input.isTensor() ? c10::IValue(input.toTensor().clone()) : input);
    }
  }

  void capture(int warmup) {
    c10::InferenceMode inference;
    const auto current = c10::cuda::getCurrentCUDAStream();
    const auto side = c10::cuda::getStreamFromPool(false, current.device_index());
    at::cuda::CUDAEvent ready;
    ready.record(current);
    ready.block(side);
    {
      // Capture needs a stream other than the legacy default one.
      c10::cuda::CUDAStreamGuard on_side(side);
      for (int i = 0; i < warmup; ++i) module_.forward(static_inputs_);
      graph_.capture_begin();
      try {
        output_ = module_.forward(static_inputs_);
      } catch (...) {
        // End the capture so the stream and the allocator are usable again.
        try {
          graph_.capture_end();
        } catch (...) {
        }
        throw;
      }
      graph_.capture_end();
    }
    at::cuda::CUDAEvent done;
    done.record(side);
    done.block(current);
  }

  bool fits(const std::vector<c10::IValue>& inputs) const override {
    if (inputs.size() != static_inputs_.size()) return false;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const auto& a = inputs[i];
      const auto& b = static_inputs_[i];
      if (a.isTensor() != b.isTensor()) return false;
      if (!a.isTensor()) {
        if (!(a == b)) return false;  // IValue equality: same type and value
        continue;
      }
      const auto& x = a.toTensor();
      const auto& y = b.toTensor();
      if (x.sizes() != y.sizes() || x.scalar_type() != y.scalar_type() || x.device() != y.device()) return false;
    }
    return true;
  }

  c10::IValue run(const std::vector<c10::IValue>& inputs) override {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].isTensor() && !inputs[i].toTensor().is_same(static_inputs_[i].toTensor())) {
        static_inputs_[i].toTensor().copy_(inputs[i].toTensor(), /*non_blocking=*/true);
      }
    }
    graph_.replay();
    return output_;
  }

  std::string describe() const override {
    std::ostringstream s;
    s << "the whole forward as one CUDA graph for inputs ";
    for (std::size_t i = 0; i < static_inputs_.size(); ++i) {
      if (i) s << ", ";
      if (static_inputs_[i].isTensor()) {
        const auto& t = static_inputs_[i].toTensor();
        s << t.scalar_type() << t.sizes();
      } else {
        s << static_inputs_[i].tagKind();
      }
    }
    return s.str();
  }

 private:
  torch::jit::Module module_;
  std::vector<c10::IValue> static_inputs_;
  c10::IValue output_;
  at::cuda::CUDAGraph graph_;
};

}  // namespace

std::shared_ptr<ForwardReplacement> capture_cuda_graph(const Model& model, const std::vector<c10::IValue>& inputs,
                                                       int warmup) {
  if (model.options().device.kind != DeviceKind::Cuda) {
    throw RuntimeError("CUDA graphs need the model on a CUDA device (--device cuda)");
  }
  auto forward = std::make_shared<CudaGraphForward>(model.impl().frozen, inputs);
  try {
    forward->capture(warmup);
  } catch (const std::exception& e) {
    throw RuntimeError("the forward could not be captured as a CUDA graph: " +
                       concise_message(torch_message(e)));
  }
  return forward;
}

}  // namespace mlopt
