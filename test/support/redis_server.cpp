#include "support/redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace redcoro::test {
namespace {

using namespace std::chrono_literals;

// A loopback port nobody listens on right now. Another process may take it before the
// server binds it; start() then retries with fresh ports.
std::uint16_t free_port() {
  for (;;) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    const std::uint16_t port = ntohs(addr.sin_port);
    if (port != 6379 && port != 0) return port;
  }
}

std::string read_file_tail(const std::string& path, std::size_t max = 2000) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > max ? s.substr(s.size() - max) : s;
}

// Sends `command` (inline RESP) over a fresh TCP connection and returns the first reply
// line, or an empty string when the server does not answer within `timeout`.
std::string ask(std::uint16_t port, const std::string& command, std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, command.data(), command.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(command.size())) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[256];
    while (reply.find("\r\n") == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      reply.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return reply;
}

}  // namespace

redis_server::redis_server(server_options opts) : opts_(std::move(opts)) {
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/redcoro-redis.XXXXXX";
  if (!mkdtemp(dir.data())) throw std::runtime_error("cannot create a temporary directory for redis-server");
  dir_ = dir;
  for (int attempt = 0;; ++attempt) {
    port_ = free_port();
    tls_port_ = opts_.tls ? free_port() : 0;
    try {
      start();
      wait_until_ready();
      return;
    } catch (const std::exception&) {
      if (running()) signal_and_reap(SIGKILL);
      if (attempt == 4) {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
        throw;
      }
    }
  }
}

redis_server::~redis_server() {
  if (running()) {
    ::kill(pid_, SIGCONT);
    signal_and_reap(SIGKILL);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string redis_server::unix_socket() const { return opts_.unix_socket ? dir_ + "/redis.sock" : std::string(); }

redcoro::config redis_server::config() const {
  redcoro::config c;
  c.host = host();
  c.port = port_;
  c.password = opts_.password;
  c.connect_timeout = 5s;
  c.request_timeout = 5s;
  return c;
}

redcoro::config redis_server::unix_config() const {
  auto c = config();
  c.unix_socket = unix_socket();
  return c;
}

redcoro::config redis_server::tls_config() const {
  const auto& certs = tls_certificates::get();
  auto c = config();
  c.port = tls_port_;
  c.tls.enabled = true;
  c.tls.ca_file = certs.ca_cert;
  c.tls.cert_file = certs.client_cert;
  c.tls.key_file = certs.client_key;
  return c;
}

void redis_server::start() {
  std::vector<std::string> args = {"redis-server",   "--port",      std::to_string(port_),
                                   "--bind",         "127.0.0.1",   "--dir",
                                   dir_,             "--save",      "",
                                   "--appendonly",   "no",          "--daemonize",
                                   "no",             "--logfile",   dir_ + "/redis.log",
                                   "--protected-mode", "no",        "--enable-debug-command",
                                   "yes"};
  if (opts_.unix_socket) args.insert(args.end(), {"--unixsocket", unix_socket(), "--unixsocketperm", "700"});
  if (!opts_.password.empty()) args.insert(args.end(), {"--requirepass", opts_.password});
  if (opts_.tls) {
    const auto& certs = tls_certificates::get();
    args.insert(args.end(), {"--tls-port", std::to_string(tls_port_), "--tls-cert-file", certs.server_cert,
                             "--tls-key-file", certs.server_key, "--tls-ca-cert-file", certs.ca_cert,
                             "--tls-auth-clients", opts_.tls_auth_clients});
  }
  args.insert(args.end(), opts_.extra_args.begin(), opts_.extra_args.end());

  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    // Never outlive the test, even if it crashes.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execvp("redis-server", argv.data());
    ::_exit(127);
  }
  pid_ = pid;
}

void redis_server::wait_until_ready() {
  const std::string ping =
      opts_.password.empty() ? "PING\r\n" : "AUTH " + opts_.password + "\r\nPING\r\n";
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("redis-server exited at start: " + read_file_tail(dir_ + "/redis.log"));
    }
    const std::string reply = ask(port_, ping, 500ms);
    if (reply.find("+PONG") != std::string::npos || (reply.starts_with("+OK") && !opts_.password.empty())) {
      if (opts_.unix_socket) {
        for (int i = 0; i < 100 && !std::filesystem::exists(unix_socket()); ++i) std::this_thread::sleep_for(10ms);
      }
      return;
    }
    std::this_thread::sleep_for(20ms);
  }
  throw std::runtime_error("redis-server did not answer PING within 10 s: " + read_file_tail(dir_ + "/redis.log"));
}

void redis_server::signal_and_reap(int sig) {
  if (!running()) return;
  ::kill(pid_, sig);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  pid_ = -1;
}

void redis_server::kill() { signal_and_reap(SIGKILL); }

void redis_server::stop() {
  if (running()) ::kill(pid_, SIGCONT);
  signal_and_reap(SIGTERM);
}

void redis_server::pause() {
  if (running()) ::kill(pid_, SIGSTOP);
}

void redis_server::resume() {
  if (running()) ::kill(pid_, SIGCONT);
}

void redis_server::restart() {
  if (running()) stop();
  std::filesystem::remove(unix_socket());
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    start();
    try {
      wait_until_ready();
      return;
    } catch (const std::exception&) {
      // The port may linger a moment after a kill; try again until the deadline.
      if (running()) signal_and_reap(SIGKILL);
      if (std::chrono::steady_clock::now() > deadline) throw;
      std::this_thread::sleep_for(100ms);
    }
  }
}

std::string redis_server::cli(const std::vector<std::string>& args) const {
  std::string command = "redis-cli -h 127.0.0.1 -p " + std::to_string(port_);
  if (!opts_.password.empty()) command += " --no-auth-warning -a '" + opts_.password + "'";
  for (const auto& a : args) {
    std::string quoted = "'";
    for (char c : a) {
      if (c == '\'')
        quoted += "'\\''";
      else
        quoted += c;
    }
    command += " " + quoted + "'";
  }
  const std::string err = dir_ + "/cli.err";
  command += " 2>" + err;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) throw std::runtime_error("cannot run redis-cli");
  std::string out;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = ::pclose(p);
  if (status != 0) throw std::runtime_error("redis-cli failed: " + read_file_tail(err));
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace redcoro::test
