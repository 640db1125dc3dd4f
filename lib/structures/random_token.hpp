// Unpredictable identifiers (lock tokens, consumer ids) from OpenSSL's CSPRNG.
#pragma once

#include <cstddef>
#include <string>

namespace redcoro::detail {

// `bytes` random bytes as lower-case hex. Throws std::runtime_error if the generator fails.
std::string random_hex(std::size_t bytes);

}  // namespace redcoro::detail
