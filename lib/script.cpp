#include <redcoro/script.hpp>

#include <openssl/evp.h>

#include <stdexcept>

namespace redcoro {

script::script(std::string source, bool idempotent) : source_(std::move(source)), idempotent_(idempotent) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!EVP_Digest(source_.data(), source_.size(), digest, &length, EVP_sha1(), nullptr))
    throw std::runtime_error("redcoro::script: SHA-1 of the script failed");
  static constexpr char hex[] = "0123456789abcdef";
  sha1_.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    sha1_ += hex[digest[i] >> 4];
    sha1_ += hex[digest[i] & 0xF];
  }
}

}  // namespace redcoro
