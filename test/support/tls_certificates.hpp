// Certificates for the TLS tests, made with the openssl command once per test process.
#pragma once

#include <string>

namespace redcoro::test {

struct tls_certificates {
  std::string dir;
  std::string ca_cert, ca_key;          // the authority the tests trust
  std::string server_cert, server_key;  // signed by it, for 127.0.0.1 and localhost
  std::string client_cert, client_key;  // signed by it
  std::string other_ca_cert;            // an unrelated authority, for rejection tests

  // Generates them on first use (thread-safe); removed when the process exits.
  static const tls_certificates& get();
};

}  // namespace redcoro::test
