// The test fixture itself: real servers start, answer, stop and come back.
#include "support/redis_server.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <signal.h>

using redcoro::test::redis_server;
using redcoro::test::server_options;

TEST_CASE("a test server starts on a free loopback port and answers") {
  redis_server server;
  CHECK(server.port() != 6379);
  CHECK(server.cli({"PING"}) == "PONG");
}

TEST_CASE("two test servers get different ports") {
  redis_server a, b;
  CHECK(a.port() != b.port());
}

TEST_CASE("a test server listens on its unix socket") {
  redis_server server;
  CHECK(std::filesystem::exists(server.unix_socket()));
}

TEST_CASE("a test server restarted after a kill listens on the same port with no data") {
  redis_server server;
  const auto port = server.port();
  server.cli({"SET", "k", "v"});
  server.kill();
  CHECK_FALSE(server.running());
  server.restart();
  CHECK(server.port() == port);
  CHECK(server.cli({"EXISTS", "k"}) == "0");
}

TEST_CASE("a test server with a password refuses unauthenticated commands") {
  redis_server server(server_options{.password = "secret"});
  CHECK(server.cli({"PING"}) == "PONG");  // cli() authenticates
}

TEST_CASE("a destroyed test server leaves no process and no directory behind") {
  pid_t pid;
  std::string dir;
  {
    redis_server server;
    pid = server.pid();
    dir = server.dir();
  }
  CHECK(::kill(pid, 0) == -1);
  CHECK_FALSE(std::filesystem::exists(dir));
}
