#pragma once
// Element types as mlopt names them, independent of libtorch so that headers
// used by the CLI and the GUI need no torch include.
#include <cstdint>
#include <string>
#include <string_view>

namespace mlopt {

enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, Bool };

// Accepts the usual spellings: fp32/float32/f32/float, fp16/float16/f16/half,
// bf16/bfloat16, fp64/float64/f64/double, int64/i64/long, int32/i32/int,
// int16/i16, int8/i8, uint8/u8, bool. Throws UsageError naming the accepted set.
DType parse_dtype(std::string_view text);
// Canonical short name: fp32, fp16, bf16, fp64, int64, int32, int16, int8, uint8, bool.
std::string to_string(DType dtype);
bool is_floating(DType dtype);
std::size_t element_size(DType dtype);

// Where a model runs.
enum class DeviceKind { Cpu, Cuda };
struct Device {
  DeviceKind kind = DeviceKind::Cpu;
  int index = 0;  // CUDA ordinal; ignored for the CPU
  bool operator==(const Device&) const = default;
};
// "cpu", "cuda", "cuda:1". Throws UsageError otherwise.
Device parse_device(std::string_view text);
std::string to_string(const Device& device);

}  // namespace mlopt
