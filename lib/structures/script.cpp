#include <redcoro/script.hpp>

#include "hex.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace redcoro {

script::script(std::string source, bool idempotent) : source_(std::move(source)), idempotent_(idempotent) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!EVP_Digest(source_.data(), source_.size(), digest, &length, EVP_sha1(), nullptr))
    throw std::runtime_error("redcoro::script: SHA-1 of the script failed");
  sha1_ = detail::to_hex(digest, length);
}

}  // namespace redcoro
