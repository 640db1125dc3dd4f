// Lower-case hex text of bytes (script digests, random tokens).
#pragma once

#include <cstddef>
#include <string>

namespace redcoro::detail {

inline std::string to_hex(const unsigned char* data, std::size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * size);
  for (std::size_t i = 0; i < size; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 0xF];
  }
  return out;
}

}  // namespace redcoro::detail
