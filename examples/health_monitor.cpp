// A pool under light traffic with a health_check() loop, as a service's /health endpoint
// would run it: status, PING latency, pool figures and the circuit breaker's state.
#include <redcoro/connection_pool.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <iomanip>
#include <iostream>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using redcoro::request;

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

void print(const redcoro::health_report& r) {
  std::cout << "status " << std::setw(9) << redcoro::to_string(r.status) << "  latency ";
  if (r.latency_ms)
    std::cout << std::fixed << std::setprecision(3) << *r.latency_ms << " ms";
  else
    std::cout << "n/a";
  std::cout << "  redis " << r.server_version << "  pool size " << r.pool.size << " in use " << r.pool.in_use
            << " idle " << r.pool.idle << " waiting " << r.pool.waiting << " created " << r.pool.created
            << " reconnects " << r.pool.reconnects << "  circuit " << redcoro::to_string(r.circuit) << " ("
            << r.consecutive_failures << " failures)";
  if (!r.last_error.empty()) std::cout << "  last error: " << r.last_error;
  std::cout << "\n";
}

asio::awaitable<void> run(redcoro::connection_pool& pool) {
  bool stop = false;
  // Some traffic: a worker that INCRs, and one that holds a lease for a while.
  const auto ex = co_await asio::this_coro::executor;
  asio::co_spawn(
      ex,
      [&]() -> asio::awaitable<void> {
        while (!stop) {
          co_await pool.execute(request("INCR", "health_monitor:hits"));
          co_await sleep_for(20ms);
        }
      },
      asio::detached);
  asio::co_spawn(
      ex,
      [&]() -> asio::awaitable<void> {
        auto lease = co_await pool.acquire();
        co_await lease->execute(request("BLPOP", "health_monitor:nothing", 1));
      },
      asio::detached);

  for (int i = 0; i < 5; ++i) {
    const auto report = co_await pool.health_check();
    print(report);
    co_await sleep_for(400ms);
  }
  stop = true;
  co_await sleep_for(50ms);
  const auto s = pool.stats();
  std::cout << "stats: commands " << s.commands << ", errors " << s.errors << ", retries " << s.retries
            << ", timeouts " << s.timeouts << "\n";
  co_await pool.execute(request("DEL", "health_monitor:hits"));
  co_await pool.close();
}

int main() {
  try {
    asio::io_context ioc;
    auto pc = redcoro::pool_config::from_env();
    pc.health_check_interval = 1s;
    redcoro::connection_pool pool(ioc.get_executor(), pc);
    std::exception_ptr failure;
    asio::co_spawn(ioc, run(pool), [&](std::exception_ptr e) { failure = e; });
    ioc.run();
    if (failure) std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    std::cerr << "health_monitor: " << e.what() << "\n";
    return 1;
  }
}
