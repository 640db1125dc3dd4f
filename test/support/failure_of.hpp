// Runs an operation expected to fail and returns its error, so a test can check it: an
// awaitable inside a coroutine (code and message), or a call that throws when made.
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

// The code of the system_error that `f()` throws; empty when it throws none.
template <class F>
boost::system::error_code code_thrown_by(F&& f) {
  try {
    (void)f();
  } catch (const boost::system::system_error& e) {
    return e.code();
  }
  return {};
}

}  // namespace redcoro::test
