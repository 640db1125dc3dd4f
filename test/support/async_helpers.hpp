// Small coroutines the integration tests share: sleeping, waiting for a condition, and
// (from failure_of.hpp) catching an operation's error code.
#pragma once

#include "support/failure_of.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <string>

namespace redcoro::test {

inline boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, d);
  co_await t.async_wait(boost::asio::use_awaitable);
}

// Waits until `cond` holds, checking every 10 ms, for at most `limit`.
template <class F>
boost::asio::awaitable<bool> eventually(F cond, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) co_return false;
    co_await sleep_for(std::chrono::milliseconds(10));
  }
  co_return true;
}

}  // namespace redcoro::test
