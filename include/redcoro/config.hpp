// How to reach a Redis server and how a connection behaves: address (TCP, unix socket or
// TLS), credentials, database, timeouts and protocol limits. Build one field by field or
// from a URL:
//   redis://[[user]:password@]host[:port][/db][?option=value...]
//   rediss://...                      (TLS)
//   unix:///path/to/redis.sock[?db=N&password=...]
#pragma once

#include <redcoro/resp3_parser.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace spdlog {
class logger;
}

namespace redcoro {

struct tls_options {
  bool enabled = false;
  // Trusted certificate authorities; when both are empty the system's default paths.
  std::string ca_file;
  std::string ca_dir;
  // Client certificate and its private key (PEM), for servers that require one.
  std::string cert_file;
  std::string key_file;
  // Verify the server's certificate chain and host name. Turn off only deliberately.
  bool verify_peer = true;
  // Name checked against the certificate and sent as SNI; defaults to the host.
  std::string server_name;
};

struct tcp_keepalive {
  bool enabled = true;
  std::chrono::seconds idle{30};
  std::chrono::seconds interval{10};
  int count = 3;
};

struct config {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string unix_socket;  // when set, used instead of host and port

  std::string username;  // ACL user; empty means "default"
  std::string password;
  int db = 0;
  std::string client_name;  // CLIENT SETNAME, sent in the handshake when not empty

  tls_options tls;
  tcp_keepalive keepalive;

  // Covers resolving, connecting, the TLS handshake and HELLO/AUTH/SELECT.
  std::chrono::milliseconds connect_timeout{10'000};
  // Default for every request; a request may set its own. Zero means no timeout.
  std::chrono::milliseconds request_timeout{5'000};

  // 3: HELLO 3, falling back to RESP2 and AUTH when the server does not know HELLO.
  // 2: RESP2 only (no push messages).
  int protocol = 3;

  resp3::parser_limits limits;
  // A request with a larger argument fails with error::value_too_large before anything is
  // sent: the server would answer it with a protocol error and close the connection,
  // failing every request pipelined with it. Redis's proto-max-bulk-len is 512 MiB.
  std::size_t max_argument_size = 512 * 1024 * 1024;

  // Where the connection logs; null means default_logger() (the one named "redcoro").
  std::shared_ptr<spdlog::logger> logger;

  // Parses a URL. Throws system_error(error::invalid_url) saying what is wrong.
  // Query options: db, client_name, connect_timeout, request_timeout (durations such as
  // "250ms", "5s", "1m"; a bare number is seconds), protocol, ca_file, ca_dir, cert_file,
  // key_file, verify_peer (true/false), server_name.
  static config from_url(std::string_view url);

  // from_url() of the environment variable `name`, or a default config if it is unset.
  static config from_env(const char* name = "REDIS_URL");

  // Throws system_error(error::invalid_config) naming the first invalid field.
  void validate() const;

  // host:port, or the socket path; never includes credentials.
  std::string address() const;
};

}  // namespace redcoro
