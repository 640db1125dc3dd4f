// What every example's main() does: connect a pool to the URL given as argument (or to
// REDIS_URL), run one coroutine to its end, and report a failure on stderr.
#pragma once

#include <redcoro/connection_pool.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <iostream>

// `run(pool)` returns an awaitable; the result is main's exit code.
template <class Run>
int run_example(const char* name, int argc, char** argv, Run run) {
  try {
    boost::asio::io_context ioc;
    const auto cfg = argc > 1 ? redcoro::pool_config::from_url(argv[1]) : redcoro::pool_config::from_env();
    redcoro::connection_pool pool(ioc.get_executor(), cfg);
    std::exception_ptr failure;
    boost::asio::co_spawn(ioc, run(pool), [&](std::exception_ptr e) { failure = e; });
    ioc.run();
    if (failure) std::rethrow_exception(failure);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << name << ": " << e.what() << "\n";
    return 1;
  }
}
