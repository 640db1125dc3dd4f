// Fault injection the integration tests share.
#pragma once

#include "support/async_helpers.hpp"
#include "support/redis_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <optional>

namespace redcoro::test {

// Runs `op` while the server holds writes back (CLIENT PAUSE WRITE), kills every client
// connection once the write is surely sent, then lifts the pause: the write never runs,
// and its caller never sees a reply. Returns what `op` failed with (empty if it succeeded).
template <class T>
boost::asio::awaitable<failure> failure_with_reply_lost(const redis_server& server, boost::asio::awaitable<T> op) {
  using namespace std::chrono_literals;
  server.cli({"CLIENT", "PAUSE", "2000", "WRITE"});
  std::optional<failure> f;
  boost::asio::co_spawn(
      co_await boost::asio::this_coro::executor,
      [&]() -> boost::asio::awaitable<void> { f = co_await failure_of(std::move(op)); }, boost::asio::detached);
  co_await sleep_for(200ms);
  server.cli({"CLIENT", "KILL", "TYPE", "NORMAL"});
  const bool finished = co_await eventually([&] { return f.has_value(); });
  server.cli({"CLIENT", "UNPAUSE"});
  if (!finished) throw std::runtime_error("the operation did not finish after its connection was killed");
  co_return *f;
}

}  // namespace redcoro::test
