// Awaits an operation of a data structure, naming the structure and its key in any error.
#pragma once

#include <redcoro/detail/keyed_errors.hpp>

#include <boost/asio/awaitable.hpp>

#include <string>
#include <string_view>

namespace redcoro::detail {

template <class T>
boost::asio::awaitable<T> keyed(std::string_view what, const std::string& key, boost::asio::awaitable<T> op) {
  try {
    co_return co_await std::move(op);
  } catch (const boost::system::system_error& e) {
    rethrow_for_key(e, what, key);
  }
}

}  // namespace redcoro::detail
