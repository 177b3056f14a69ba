#include "model_options.h"

namespace mlopt::cli {

LoadOptions ModelRunOptions::load_options() const {
  LoadOptions load;
  load.device = parse_device(device);
  if (!dtype.empty()) load.dtype = parse_dtype(dtype);
  return load;
}

InputSpec ModelRunOptions::spec() const { return InputSpec::parse_all(input); }

Model ModelRunOptions::load_model() const { return Model::load(model, load_options()); }

void add_model_run_options(CLI::App* sub, ModelRunOptions& o, const std::string& iterations_help) {
  sub->add_option("model", o.model, "TorchScript file (.pt)")->required();
  sub->add_option("--input", o.input, "Input spec, e.g. ids:int64[8,1024] (repeat or use ';' for several)")
      ->required();
  sub->add_option("--device", o.device, "cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--dtype", o.dtype, "Convert the model's weights: fp32, fp16 or bf16 (default: as saved)");
  sub->add_option("--iters", o.iterations, iterations_help)->capture_default_str()->check(CLI::PositiveNumber);
  sub->add_option("--warmup", o.warmup, "Untimed warm-up iterations")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--seed", o.seed, "Seed for the random inputs")->capture_default_str();
}

}  // namespace mlopt::cli
