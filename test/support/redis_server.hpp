// A real redis-server for one test: started on free loopback ports (never 6379) and a unix
// socket in a temporary directory, stopped and removed when the object goes away. Tests
// kill, pause and restart it to inject faults.
#pragma once

#include "support/tls_certificates.hpp"

#include <redcoro/config.hpp>

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace redcoro::test {

struct server_options {
  std::string password;                       // requirepass; empty for none
  bool tls = false;                           // also listen on a TLS port
  std::string tls_auth_clients = "optional";  // "yes", "no" or "optional"
  bool unix_socket = true;
  std::vector<std::string> extra_args;        // e.g. {"--maxclients", "3"}
};

class redis_server {
 public:
  // Starts the server and waits until it answers PING.
  explicit redis_server(server_options opts = {});
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;
  ~redis_server();

  std::string host() const { return "127.0.0.1"; }
  std::uint16_t port() const noexcept { return port_; }
  std::uint16_t tls_port() const noexcept { return tls_port_; }
  std::string unix_socket() const;
  const std::string& dir() const noexcept { return dir_; }
  pid_t pid() const noexcept { return pid_; }
  bool running() const noexcept { return pid_ > 0; }

  redcoro::config config() const;       // TCP, with the password
  redcoro::config unix_config() const;  // the unix socket
  redcoro::config tls_config() const;   // the TLS port: our CA, a client certificate, verification on

  void kill();     // SIGKILL, then wait for it
  void stop();     // SIGTERM, then wait for it
  void pause();    // SIGSTOP
  void resume();   // SIGCONT
  void restart();  // start again on the same ports and socket

  // Runs redis-cli against the server; returns its output without the trailing newline.
  // Throws with redis-cli's error output when it fails.
  std::string cli(const std::vector<std::string>& args) const;

 private:
  void start();
  void wait_until_ready();
  void signal_and_reap(int sig);

  server_options opts_;
  std::string dir_;
  std::uint16_t port_ = 0;
  std::uint16_t tls_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace redcoro::test
