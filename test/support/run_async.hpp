// Runs a test coroutine to completion on an io_context, with a hard time limit so a hung
// request fails the test instead of hanging the run.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>

namespace redcoro::test {

template <class T>
T run_async(boost::asio::io_context& ioc, boost::asio::awaitable<T> task,
            std::chrono::seconds limit = std::chrono::seconds(60)) {
  std::exception_ptr error;
  bool done = false;
  std::conditional_t<std::is_void_v<T>, bool, std::optional<T>> result{};
  auto on_done = [&](std::exception_ptr e, auto... value) {
    error = e;
    if constexpr (!std::is_void_v<T>) result.emplace(std::move(value)...);
    done = true;
    ioc.stop();
  };
  boost::asio::co_spawn(ioc, std::move(task), on_done);
  ioc.restart();
  ioc.run_for(limit);
  if (!done) throw std::runtime_error("test coroutine did not finish within the time limit");
  if (error) std::rethrow_exception(error);
  if constexpr (!std::is_void_v<T>) return std::move(*result);
}

// Same, on a fresh io_context.
template <class F>
auto run_async(F&& make_task, std::chrono::seconds limit = std::chrono::seconds(60)) {
  boost::asio::io_context ioc;
  return run_async(ioc, make_task(ioc), limit);
}

}  // namespace redcoro::test
