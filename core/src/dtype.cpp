#include "mlopt/core/dtype.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "mlopt/core/error.h"

namespace mlopt {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

DType parse_dtype(std::string_view text) {
  const std::string t = lower(text);
  if (t == "fp32" || t == "float32" || t == "f32" || t == "float") return DType::F32;
  if (t == "fp16" || t == "float16" || t == "f16" || t == "half") return DType::F16;
  if (t == "bf16" || t == "bfloat16") return DType::BF16;
  if (t == "fp64" || t == "float64" || t == "f64" || t == "double") return DType::F64;
  if (t == "int64" || t == "i64" || t == "long") return DType::I64;
  if (t == "int32" || t == "i32" || t == "int") return DType::I32;
  if (t == "int16" || t == "i16") return DType::I16;
  if (t == "int8" || t == "i8") return DType::I8;
  if (t == "uint8" || t == "u8") return DType::U8;
  if (t == "bool") return DType::Bool;
  throw UsageError("unknown dtype '" + std::string(text) +
                   "': use one of fp32, fp16, bf16, fp64, int64, int32, int16, int8, uint8, bool");
}

std::string to_string(DType dtype) {
  switch (dtype) {
    case DType::F32: return "fp32";
    case DType::F16: return "fp16";
    case DType::BF16: return "bf16";
    case DType::F64: return "fp64";
    case DType::I64: return "int64";
    case DType::I32: return "int32";
    case DType::I16: return "int16";
    case DType::I8: return "int8";
    case DType::U8: return "uint8";
    case DType::Bool: return "bool";
  }
  return "?";
}

bool is_floating(DType dtype) {
  return dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16 || dtype == DType::F64;
}

std::size_t element_size(DType dtype) {
  switch (dtype) {
    case DType::F64: case DType::I64: return 8;
    case DType::F32: case DType::I32: return 4;
    case DType::F16: case DType::BF16: case DType::I16: return 2;
    case DType::I8: case DType::U8: case DType::Bool: return 1;
  }
  return 0;
}

Device parse_device(std::string_view text) {
  const std::string t = lower(text);
  if (t == "cpu") return {DeviceKind::Cpu, 0};
  if (t == "cuda" || t == "gpu") return {DeviceKind::Cuda, 0};
  if (t.rfind("cuda:", 0) == 0) {
    int index = -1;
    const char* begin = t.data() + 5;
    const char* end = t.data() + t.size();
    auto [ptr, ec] = std::from_chars(begin, end, index);
    if (ec == std::errc() && ptr == end && index >= 0) return {DeviceKind::Cuda, index};
  }
  throw UsageError("unknown device '" + std::string(text) + "': use cpu, cuda or cuda:N");
}

std::string to_string(const Device& device) {
  if (device.kind == DeviceKind::Cpu) return "cpu";
  return device.index == 0 ? "cuda" : "cuda:" + std::to_string(device.index);
}

}  // namespace mlopt
