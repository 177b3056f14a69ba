#pragma once
// fp16 and bf16 as raw 16-bit patterns, converted by hand so that CPU
// references and tests build without CUDA headers. Float -> 16 bits rounds
// to nearest, ties to even (as __float2half_rn / __float2bfloat16_rn do);
// 16 bits -> float is exact. C++17 (CUDA sources include it too).
#include <cmath>
#include <cstdint>
#include <cstring>

namespace mlopt::kernels {

inline uint32_t float_bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  return x;
}

inline float bits_float(uint32_t x) {
  float f;
  std::memcpy(&f, &x, sizeof f);
  return f;
}

// Rounds the integer `value` right by `shift` bits (1..31), to nearest, ties to even.
inline uint32_t detail_shift_round_even(uint32_t value, int shift) {
  const uint32_t kept = value >> shift;
  const uint32_t rest = value & ((uint32_t{1} << shift) - 1);
  const uint32_t half = uint32_t{1} << (shift - 1);
  return kept + ((rest > half || (rest == half && (kept & 1u))) ? 1u : 0u);
}

inline uint16_t float_to_half_bits(float f) {
  const uint32_t x = float_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t exponent = (x >> 23) & 0xFFu;
  const uint32_t mantissa = x & 0x7FFFFFu;
  if (exponent == 0xFFu) {  // inf stays inf; NaN stays a (quiet) NaN
    return static_cast<uint16_t>(sign | 0x7C00u | (mantissa != 0 ? (0x200u | (mantissa >> 13)) : 0u));
  }
  const int e = static_cast<int>(exponent) - 127 + 15;  // the fp16 biased exponent
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7C00u);  // overflow: inf
  if (e <= 0) {
    // fp16 subnormal (or zero): the value in units of 2^-24 is M * 2^(e - 14).
    const int shift = 14 - e;
    if (shift > 24) return static_cast<uint16_t>(sign);  // below half of the smallest subnormal
    const uint32_t m = mantissa | 0x800000u;
    // A carry into 0x400 is the smallest normal number, correctly encoded.
    return static_cast<uint16_t>(sign | detail_shift_round_even(m, shift));
  }
  // Normal: a carry out of the mantissa bumps the exponent (up to inf), as it should.
  const uint32_t magnitude = (static_cast<uint32_t>(e) << 23) | mantissa;  // e and mantissa, 13 extra bits
  return static_cast<uint16_t>(sign | detail_shift_round_even(magnitude, 13));
}

inline float half_bits_to_float(uint16_t h) {
  const uint32_t sign = (static_cast<uint32_t>(h) & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu;
  const uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0x1Fu) return bits_float(sign | 0x7F800000u | (mantissa << 13));
  if (exponent == 0) {
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // exact
    return sign ? -magnitude : magnitude;
  }
  return bits_float(sign | ((exponent - 15 + 127) << 23) | (mantissa << 13));
}

inline uint16_t float_to_bf16_bits(float f) {
  const uint32_t x = float_bits(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  // Round to nearest even on the low 16 bits; overflow carries into inf.
  const uint32_t bias = 0x7FFFu + ((x >> 16) & 1u);
  return static_cast<uint16_t>((x + bias) >> 16);
}

inline float bf16_bits_to_float(uint16_t b) { return bits_float(static_cast<uint32_t>(b) << 16); }

}  // namespace mlopt::kernels
