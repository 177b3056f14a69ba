#include <cstring>

#include "mlopt/kernels/poison.h"

namespace mlopt::kernels {

void poison_host(void* data, std::size_t bytes) {
  auto* words = static_cast<uint16_t*>(data);
  for (std::size_t i = 0; i < bytes / 2; ++i) words[i] = kPoisonWord;
}

std::size_t count_poisoned_host(const void* data, std::size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::size_t count = 0;
  for (std::size_t i = 0; i + 1 < bytes; i += 2) {
    uint16_t w;
    std::memcpy(&w, p + i, 2);
    count += (w == kPoisonWord);
  }
  return count;
}

}  // namespace mlopt::kernels
