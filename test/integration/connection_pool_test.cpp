// The connection pool against real redis-server processes, with real faults: servers
// killed and restarted, paused, clients killed, commands slowed down.
#include <redcoro/connection_pool.hpp>

#include "support/catch.hpp"
#include "support/redis_server.hpp"
#include "support/run_async.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdlib>
#include <map>
#include <set>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using redcoro::connection_pool;
using redcoro::error;
using redcoro::pool_config;
using redcoro::request;
using redcoro::test::redis_server;
using redcoro::test::run_async;
using redcoro::test::server_options;

namespace {

struct failure {
  boost::system::error_code code;
  std::string what;
};

template <class T>
asio::awaitable<failure> failure_of(asio::awaitable<T> op) {
  try {
    co_await std::move(op);
  } catch (const boost::system::system_error& e) {
    co_return failure{e.code(), e.what()};
  }
  co_return failure{};
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

// Fast-reacting settings for tests.
pool_config settings_for(const redis_server& server) {
  pool_config pc;
  pc.connection = server.config();
  pc.connection.connect_timeout = 1s;
  pc.connection.request_timeout = 1s;
  pc.health_check_interval = 300ms;
  pc.backoff_base = 20ms;
  pc.backoff_cap = 200ms;
  pc.acquire_timeout = 1s;
  pc.max_connections = 4;
  return pc;
}

// Waits until `cond` holds, checking every 10 ms, for at most `limit`.
template <class F>
asio::awaitable<bool> eventually(F cond, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) co_return false;
    co_await sleep_for(10ms);
  }
  co_return true;
}

}  // namespace

TEST_CASE("a pool runs commands over its shared connections") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    const auto n = co_await pool.execute<std::int64_t>(request("INCR", "hits"));
    const auto text = co_await pool.execute<std::string>(request("GET", "hits"));
    CHECK(n == 1);
    CHECK(text == "1");
    CHECK(pool.stats().commands == 2);
    co_await pool.close();
  });
}

TEST_CASE("a pool spreads commands over all its shared connections") {
  redis_server server;
  auto pc = settings_for(server);
  pc.shared_connections = 3;
  pc.connection.client_name = "shared";
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), pc);
    std::set<std::int64_t> ids;
    for (int i = 0; i < 30; ++i) ids.insert(co_await pool.execute<std::int64_t>(request("CLIENT", "ID")));
    CHECK(ids.size() == 3);
    co_await pool.close();
  });
}

TEST_CASE("a lease is an exclusive connection that blocking commands can use") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    auto lease = co_await pool.acquire();
    request blpop("BLPOP", "jobs", 2);
    blpop.set_timeout(3s);
    std::optional<std::vector<std::string>> got;
    bool done = false;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          got = co_await lease->execute<std::optional<std::vector<std::string>>>(blpop);
          done = true;
        },
        asio::detached);
    // Shared traffic goes on while the leased connection blocks.
    co_await sleep_for(50ms);
    const auto pong = co_await pool.execute<std::string>(request("PING"));
    CHECK(pong == "PONG");
    co_await pool.execute(request("RPUSH", "jobs", "job-1"));
    CHECK(co_await eventually([&] { return done; }));
    REQUIRE(got.has_value());
    CHECK((*got)[1] == "job-1");
    co_await pool.close();
  });
}

TEST_CASE("a clean lease goes back to the pool and is reused") {
  redis_server server;
  auto pc = settings_for(server);
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), pc);
    std::int64_t first, second;
    {
      auto lease = co_await pool.acquire();
      first = co_await lease->execute<std::int64_t>(request("CLIENT", "ID"));
    }
    {
      auto lease = co_await pool.acquire();
      second = co_await lease->execute<std::int64_t>(request("CLIENT", "ID"));
    }
    CHECK(first == second);
    co_await pool.close();
  });
}

TEST_CASE("a lease handed back subscribed is closed, never reused") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    std::int64_t first, second;
    {
      auto lease = co_await pool.acquire();
      first = co_await lease->execute<std::int64_t>(request("CLIENT", "ID"));
      co_await lease->execute<redcoro::ignore_t>(request("SUBSCRIBE", "news"));
    }
    {
      auto lease = co_await pool.acquire();
      second = co_await lease->execute<std::int64_t>(request("CLIENT", "ID"));
    }
    CHECK(first != second);
    co_await pool.close();
  });
}

TEST_CASE("a lease handed back inside MULTI is closed, never reused") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    std::int64_t first, second;
    {
      auto lease = co_await pool.acquire();
      first = co_await lease->execute<std::int64_t>(request("CLIENT", "ID"));
      co_await lease->execute(request("MULTI"));
      co_await lease->execute(request("SET", "half", "done"));
    }
    {
      auto lease = co_await pool.acquire();
      second = co_await lease->execute<std::int64_t>(request("CLIENT", "ID"));
    }
    CHECK(first != second);
    const auto half = co_await pool.execute<std::optional<std::string>>(request("GET", "half"));
    CHECK_FALSE(half.has_value());
    co_await pool.close();
  });
}

TEST_CASE("a lease whose blocking command was cancelled mid-flight is closed, never reused") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    std::int64_t first, second;
    {
      auto lease = co_await pool.acquire();
      first = co_await lease->execute<std::int64_t>(request("CLIENT", "ID"));
      asio::steady_timer t(ioc, 50ms);
      co_await (lease->execute(request("BLPOP", "nothing", 5)) || t.async_wait(asio::use_awaitable));
    }
    {
      auto lease = co_await pool.acquire();
      second = co_await lease->execute<std::int64_t>(request("CLIENT", "ID"));
    }
    CHECK(first != second);
    co_await pool.close();
  });
}

TEST_CASE("lease waiters are served in order and time out with a clear error") {
  redis_server server;
  auto pc = settings_for(server);
  pc.max_connections = 2;  // one shared, one to lease
  pc.acquire_timeout = 300ms;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), pc);
    auto held = co_await pool.acquire();
    std::vector<int> order;
    for (int i = 0; i < 2; ++i) {
      asio::co_spawn(
          ioc,
          [&, i]() -> asio::awaitable<void> {
            auto l = co_await pool.acquire();
            order.push_back(i);
            co_await sleep_for(10ms);
          },
          asio::detached);
    }
    co_await sleep_for(20ms);
    held.release();
    CHECK(co_await eventually([&] { return order.size() == 2; }));
    CHECK(order == std::vector<int>{0, 1});

    auto again = co_await pool.acquire();
    const auto start = std::chrono::steady_clock::now();
    const auto f = co_await failure_of(pool.acquire());
    CHECK(f.code == error::acquire_timeout);
    CHECK_THAT(f.what, Catch::Contains("within 300 ms"));
    CHECK(std::chrono::steady_clock::now() - start < 2s);
    co_await pool.close();
  });
}

TEST_CASE("a pool notices a server that stopped answering, with no traffic, within an interval plus a timeout") {
  redis_server server;
  auto pc = settings_for(server);
  pc.breaker.threshold = 1000;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), pc);
    co_await pool.execute(request("PING"));
    server.pause();
    // Health checks PING idle connections every 300 ms; a PING unanswered for 1 s fails.
    CHECK(co_await eventually([&] { return pool.stats().timeouts >= 1; }, 3s));
    server.resume();
    bool recovered = false;
    for (int i = 0; i < 100 && !recovered; ++i) {
      recovered = !(co_await failure_of(pool.execute(request("PING")))).code;
      if (!recovered) co_await sleep_for(50ms);
    }
    CHECK(recovered);
    co_await pool.close();
  });
}

TEST_CASE("a pool recovers after its server is killed and restarted on the same port") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    co_await pool.execute(request("PING"));
    server.kill();
    co_await sleep_for(200ms);
    const auto down = co_await pool.health_check();
    CHECK(down.status == redcoro::health_status::unhealthy);
    CHECK_FALSE(down.last_error.empty());
    server.restart();
    CHECK(co_await eventually([&] { return pool.stats().reconnects >= 1; }, 5s));
    const auto pong = co_await pool.execute<std::string>(request("PING"));
    CHECK(pong == "PONG");
    const auto up = co_await pool.health_check();
    CHECK(up.pool.reconnects >= 1);
    co_await pool.close();
  });
}

TEST_CASE("requests issued while the server restarts wait and succeed, none hangs") {
  redis_server server;
  auto pc = settings_for(server);
  pc.connection.request_timeout = 3s;
  pc.breaker.threshold = 1000;  // keep waiting rather than failing fast
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), pc);
    co_await pool.execute(request("PING"));
    server.kill();
    int ok = 0, failed = 0;
    for (int i = 0; i < 20; ++i) {
      asio::co_spawn(
          ioc,
          [&]() -> asio::awaitable<void> {
            const auto f = co_await failure_of(pool.execute<std::string>(request("PING")));
            (f.code ? failed : ok)++;
          },
          asio::detached);
    }
    co_await sleep_for(300ms);
    server.restart();
    CHECK(co_await eventually([&] { return ok + failed == 20; }, 5s));
    CHECK(ok == 20);
    co_await pool.close();
  });
}

TEST_CASE("a paused server makes requests time out, and the pool recovers when it resumes") {
  redis_server server;
  auto pc = settings_for(server);
  pc.connection.request_timeout = 300ms;
  pc.breaker.threshold = 1000;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), pc);
    co_await pool.execute(request("PING"));
    server.pause();
    const auto start = std::chrono::steady_clock::now();
    const auto f = co_await failure_of(pool.execute(request("INCR", "paused")));
    CHECK(f.code == error::request_timeout);
    CHECK(std::chrono::steady_clock::now() - start < 2s);
    server.resume();
    bool recovered = false;
    for (int i = 0; i < 100 && !recovered; ++i) {
      const auto g = co_await failure_of(pool.execute(request("PING")));
      recovered = !g.code;
      if (!recovered) co_await sleep_for(50ms);
    }
    CHECK(recovered);
    co_await pool.close();
  });
}

TEST_CASE("requests fail fast with circuit_open while the server keeps failing") {
  redis_server server;
  auto pc = settings_for(server);
  pc.breaker.threshold = 3;
  pc.breaker.open_time = 10s;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), pc);
    co_await pool.execute(request("PING"));
    server.kill();
    CHECK(co_await eventually([&] { return pool.stats().connections_created >= 4; }, 3s));
    const auto start = std::chrono::steady_clock::now();
    const auto f = co_await failure_of(pool.execute(request("PING")));
    CHECK(f.code == error::circuit_open);
    CHECK_THAT(f.what, Catch::Contains("refused"));
    CHECK(std::chrono::steady_clock::now() - start < 100ms);
    // The reconnect attempts go on; when one succeeds the circuit closes again.
    server.restart();
    CHECK(co_await eventually([&] { return pool.stats().reconnects >= 1; }, 5s));
    const auto pong = co_await pool.execute<std::string>(request("PING"));
    CHECK(pong == "PONG");
    co_await pool.close();
  });
}

TEST_CASE("an idempotent request whose connection was killed is sent again on a new one") {
  redis_server server;
  auto pc = settings_for(server);
  pc.connection.request_timeout = 5s;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), pc);
    co_await pool.execute(request("PING"));
    // A plain SET is idempotent; the server holds it back, then its connection is killed.
    server.cli({"CLIENT", "PAUSE", "1000", "WRITE"});
    std::optional<failure> f;
    asio::co_spawn(
        ioc, [&]() -> asio::awaitable<void> { f = co_await failure_of(pool.execute(request("SET", "k", "v2"))); },
        asio::detached);
    co_await sleep_for(200ms);
    server.cli({"CLIENT", "KILL", "TYPE", "NORMAL"});
    CHECK(co_await eventually([&] { return f.has_value(); }, 5s));
    CHECK_FALSE(f->code);
    CHECK(pool.stats().retries >= 1);
    const auto v = co_await pool.execute<std::string>(request("GET", "k"));
    CHECK(v == "v2");
    co_await pool.close();
  });
}

TEST_CASE("a write whose reply was lost is not sent again and fails as outcome unknown") {
  redis_server server;
  auto pc = settings_for(server);
  pc.connection.request_timeout = 5s;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), pc);
    co_await pool.execute(request("PING"));
    // The server holds writes back; the RPUSH is sent, then its connection is killed.
    server.cli({"CLIENT", "PAUSE", "2000", "WRITE"});
    std::optional<failure> f;
    asio::co_spawn(
        ioc, [&]() -> asio::awaitable<void> { f = co_await failure_of(pool.execute(request("RPUSH", "log", "once"))); },
        asio::detached);
    co_await sleep_for(200ms);
    server.cli({"CLIENT", "KILL", "TYPE", "NORMAL"});
    CHECK(co_await eventually([&] { return f.has_value(); }, 5s));
    CHECK(f->code == error::outcome_unknown);
    CHECK_THAT(f->what, Catch::Contains("not idempotent"));
    server.cli({"CLIENT", "UNPAUSE"});
    const auto len = co_await pool.execute<std::int64_t>(request("LLEN", "log"));
    CHECK(len == 0);
    co_await pool.close();
  });
}

TEST_CASE("a request slower than its timeout fails with request_timeout and the pool goes on") {
  redis_server server;
  auto pc = settings_for(server);
  pc.connection.request_timeout = 200ms;
  pc.breaker.threshold = 100;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), pc);
    co_await pool.execute(request("PING"));
    request sleep("DEBUG", "SLEEP", "0.5");
    const auto f = co_await failure_of(pool.execute(sleep));
    CHECK(f.code == error::request_timeout);
    co_await sleep_for(500ms);
    const auto echoed = co_await pool.execute<std::string>(request("ECHO", "after"));
    CHECK(echoed == "after");
    CHECK(pool.stats().timeouts >= 1);
    co_await pool.close();
  });
}

TEST_CASE("requests wait through a CLIENT PAUSE shorter than their timeout") {
  redis_server server;
  auto pc = settings_for(server);
  pc.connection.request_timeout = 2s;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), pc);
    co_await pool.execute(request("PING"));
    server.cli({"CLIENT", "PAUSE", "300", "ALL"});
    const auto start = std::chrono::steady_clock::now();
    const auto n = co_await pool.execute<std::int64_t>(request("INCR", "after-pause"));
    CHECK(n == 1);
    CHECK(std::chrono::steady_clock::now() - start >= 250ms);
    co_await pool.close();
  });
}

TEST_CASE("a wrong password gives an authentication error, opens the circuit and causes no hot reconnect loop") {
  redis_server server(server_options{.password = "right"});
  auto pc = settings_for(server);
  pc.connection.password = "wrong";
  pc.breaker.threshold = 3;
  pc.breaker.open_time = 10s;
  pc.backoff_base = 50ms;
  pc.backoff_cap = 400ms;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), pc);
    CHECK(co_await eventually([&] { return pool.stats().connections_created >= 3; }, 3s));
    const auto f = co_await failure_of(pool.execute(request("PING")));
    CHECK(f.code == error::circuit_open);
    CHECK_THAT(f.what, Catch::Contains("WRONGPASS"));
    auto report = co_await pool.health_check();
    CHECK(report.status == redcoro::health_status::unhealthy);
    CHECK(report.circuit == redcoro::circuit_breaker::state::open);
    // Capped backoff: a handful of attempts per second, not thousands.
    const auto before = pool.stats().connections_created;
    co_await sleep_for(1s);
    CHECK(pool.stats().connections_created - before <= 6);
    co_await pool.close();
  });
}

TEST_CASE("a lease refused by a server at maxclients fails with a clear error") {
  redis_server server(server_options{.extra_args = {"--maxclients", "1"}});
  auto pc = settings_for(server);
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), pc);
    co_await pool.execute(request("PING"));  // the one client slot is the shared connection
    const auto f = co_await failure_of(pool.acquire());
    CHECK(f.code == error::not_connected);
    CHECK_THAT(f.what, Catch::Contains("max number of clients"));
    co_await pool.close();
  });
}

TEST_CASE("health_check reports a healthy pool with latency, version and figures") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    co_await pool.execute(request("PING"));
    auto lease = co_await pool.acquire();
    const auto r = co_await pool.health_check();
    CHECK(r.status == redcoro::health_status::healthy);
    REQUIRE(r.latency_ms.has_value());
    CHECK(*r.latency_ms >= 0.0);
    CHECK(r.server_version.starts_with("7."));
    CHECK(r.pool.in_use == 1);
    CHECK(r.pool.size == 2);
    CHECK(r.pool.created == 2);
    CHECK(r.circuit == redcoro::circuit_breaker::state::closed);
    CHECK(r.consecutive_failures == 0);
    co_await pool.close();
  });
}

TEST_CASE("closing a pool fails whatever waits and leaves no coroutine suspended") {
  redis_server server;
  auto pc = settings_for(server);
  pc.max_connections = 2;
  pc.acquire_timeout = 10s;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), pc);
    auto held = co_await pool.acquire();
    std::optional<failure> blocked, waiting;
    request blpop("BLPOP", "nothing", 5);
    blpop.set_timeout(10s);
    asio::co_spawn(
        ioc, [&]() -> asio::awaitable<void> { blocked = co_await failure_of(pool.execute(blpop)); }, asio::detached);
    asio::co_spawn(
        ioc, [&]() -> asio::awaitable<void> { waiting = co_await failure_of(pool.acquire()); }, asio::detached);
    co_await sleep_for(100ms);
    co_await pool.close();
    CHECK(co_await eventually([&] { return blocked && waiting; }, 2s));
    CHECK(blocked->code == error::pool_closed);
    CHECK(waiting->code == error::pool_closed);
    const auto after = co_await failure_of(pool.execute(request("PING")));
    CHECK(after.code == error::pool_closed);
  });
}

TEST_CASE("soak: mixed traffic through three server restarts loses no request and duplicates no write") {
  // Writes are fsynced before they are acknowledged, so they survive the kills.
  redis_server server(server_options{.extra_args = {"--appendonly", "yes", "--appendfsync", "always"}});
  auto pc = settings_for(server);
  pc.shared_connections = 2;
  pc.connection.request_timeout = 2s;
  pc.breaker.threshold = 1'000'000;  // keep trying through the restarts
  const char* env = std::getenv("REDCORO_SOAK_SECONDS");
  const auto duration = std::chrono::seconds(env ? std::atoi(env) : 30);
  run_async(
      [&](asio::io_context& ioc) -> asio::awaitable<void> {
        connection_pool pool(ioc.get_executor(), pc);
        co_await pool.execute(request("PING"));
        const auto end = std::chrono::steady_clock::now() + duration;
        int running = 50;
        std::map<std::string, int> failures;  // error message -> count
        std::set<std::string> acknowledged;   // writes the server confirmed
        std::set<std::string> unknown;        // writes with an unknown outcome
        long requests = 0;
        for (int w = 0; w < 50; ++w) {
          asio::co_spawn(
              ioc,
              [&, w]() -> asio::awaitable<void> {
                for (int i = 0; std::chrono::steady_clock::now() < end; ++i) {
                  const std::string id = std::to_string(w) + ":" + std::to_string(i);
                  ++requests;
                  bool failed = false;
                  try {
                    if (i % 3 == 0) {
                      co_await pool.execute(request("RPUSH", "writes", id));
                      acknowledged.insert(id);
                    } else if (i % 3 == 1) {
                      co_await pool.execute(request("GET", "soak"));
                    } else {
                      co_await pool.execute(request("SET", "soak", id));
                    }
                  } catch (const boost::system::system_error& e) {
                    // Every failure says what happened.
                    const auto code = e.code();
                    CHECK((code == error::outcome_unknown || code == error::request_timeout ||
                           code == error::connection_lost || code == error::circuit_open ||
                           code == error::loading));
                    CHECK(std::string(e.what()).size() > 20);
                    ++failures[e.code().message()];
                    if (i % 3 == 0) unknown.insert(id);
                    failed = true;
                  }
                  if (failed) co_await sleep_for(20ms);
                }
                --running;
              },
              asio::detached);
        }
        for (int r = 0; r < 3; ++r) {
          co_await sleep_for(std::chrono::duration_cast<std::chrono::milliseconds>(duration / 4));
          server.kill();
          co_await sleep_for(200ms);
          server.restart();
        }
        // Zero hung requests: every worker finishes within its last request's timeout.
        CHECK(co_await eventually([&] { return running == 0; }, duration + 10s));
        // Zero duplicated writes, and every acknowledged write is there.
        const auto writes = co_await pool.execute<std::vector<std::string>>(request("LRANGE", "writes", 0, -1));
        std::set<std::string> distinct(writes.begin(), writes.end());
        CHECK(distinct.size() == writes.size());
        for (const auto& id : acknowledged) CHECK(distinct.count(id) == 1);
        // Nothing is there that its caller was told had failed outright.
        for (const auto& id : distinct) CHECK((acknowledged.count(id) + unknown.count(id)) == 1);
        INFO("requests " << requests << ", acknowledged writes " << acknowledged.size());
        for (const auto& [what, n] : failures) INFO(what << ": " << n);
        CHECK(requests > 1000);
        co_await pool.close();
      },
      duration + 60s);
}
