#include "random_token.hpp"

#include "hex.hpp"

#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

namespace redcoro::detail {

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1)
    throw std::runtime_error("redcoro: the random generator failed");
  return to_hex(raw.data(), raw.size());
}

}  // namespace redcoro::detail
