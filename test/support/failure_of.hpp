// Awaits an operation expected to fail and returns its error code and message, so a test
// can check both inside a coroutine.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <string>
#include <utility>

namespace redcoro::test {

struct failure {
  boost::system::error_code code;  // empty when the operation succeeded
  std::string what;
};

template <class T>
boost::asio::awaitable<failure> failure_of(boost::asio::awaitable<T> op) {
  try {
    co_await std::move(op);
  } catch (const boost::system::system_error& e) {
    co_return failure{e.code(), e.what()};
  }
  co_return failure{};
}

}  // namespace redcoro::test
