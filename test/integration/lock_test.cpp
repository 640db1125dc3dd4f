// lock against a real redis-server: mutual exclusion, expiry, safe release, extension,
// guards with automatic extension, lost replies and keys of the wrong type.
#include <redcoro/lock.hpp>

#include "support/async_helpers.hpp"
#include "support/faults.hpp"
#include "support/redis_server.hpp"
#include "support/run_async.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "support/catch.hpp"

#include <atomic>
#include <memory>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using redcoro::connection_pool;
using redcoro::error;
using redcoro::lock;
using redcoro::request;
using redcoro::test::eventually;
using redcoro::test::failure_of;
using redcoro::test::redis_server;
using redcoro::test::run_async;
using redcoro::test::sleep_for;

namespace {

redcoro::pool_config settings_for(const redis_server& server) {
  redcoro::pool_config pc;
  pc.connection = server.config();
  return pc;
}

asio::awaitable<std::optional<std::string>> value_of(connection_pool& pool, const std::string& key) {
  request get("GET", key);
  co_return co_await pool.execute<std::optional<std::string>>(get);
}

}  // namespace

TEST_CASE("of many contenders exactly one acquires a lock, with a random token") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    std::vector<std::unique_ptr<lock>> locks;
    for (int i = 0; i < 16; ++i) locks.push_back(std::make_unique<lock>(pool, "camera:1", 10s));
    int winners = 0, done = 0;
    for (auto& l : locks)
      asio::co_spawn(
          ioc,
          [&, lk = l.get()]() -> asio::awaitable<void> {
            if (co_await lk->try_acquire()) ++winners;
            ++done;
          },
          asio::detached);
    CHECK(co_await eventually([&] { return done == 16; }));
    CHECK(winners == 1);
    for (auto& l : locks) {
      if (!l->owned()) continue;
      CHECK(l->token().size() == 32);
      CHECK(co_await value_of(pool, "lock:camera:1") == std::optional<std::string>(l->token()));
      CHECK(co_await l->release());
    }
    CHECK_FALSE((co_await value_of(pool, "lock:camera:1")).has_value());
    co_await pool.close();
  });
}

TEST_CASE("a lock expires after its TTL and another holder can take it") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    lock a(pool, "camera:2", 200ms), b(pool, "camera:2", 200ms);
    CHECK(co_await a.try_acquire());
    CHECK_FALSE(co_await b.try_acquire());
    co_await sleep_for(300ms);
    CHECK(co_await b.try_acquire());
    CHECK(a.token() != b.token());
    co_await pool.close();
  });
}

TEST_CASE("a holder whose lock expired cannot release the next holder's lock") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    lock a(pool, "camera:3", 150ms), b(pool, "camera:3", 10s);
    CHECK(co_await a.try_acquire());
    co_await sleep_for(250ms);
    CHECK(co_await b.try_acquire());
    CHECK_FALSE(co_await a.release());
    CHECK_FALSE(a.owned());
    CHECK(co_await value_of(pool, "lock:camera:3") == std::optional<std::string>(b.token()));
    CHECK(co_await b.held());
    CHECK(co_await b.release());
    co_await pool.close();
  });
}

TEST_CASE("extend sets a new TTL while the lock is held and fails with lock_lost once it is gone") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    lock a(pool, "camera:4", 200ms), b(pool, "camera:4", 10s);
    CHECK(co_await a.try_acquire());
    co_await a.extend(5s);
    CHECK(std::stoi(server.cli({"PTTL", "lock:camera:4"})) > 1000);
    // Another holder takes over after the key was deleted behind a's back.
    server.cli({"DEL", "lock:camera:4"});
    CHECK(co_await b.try_acquire());
    const auto f = co_await failure_of(a.extend());
    CHECK(f.code == error::lock_lost);
    CHECK_THAT(f.what, Catch::Contains("lock 'camera:4' is no longer held"));
    CHECK_FALSE(a.owned());
    CHECK(std::stoi(server.cli({"PTTL", "lock:camera:4"})) > 5000);  // b's TTL, untouched
    co_await pool.close();
  });
}

TEST_CASE("acquire retries until the holder releases, and gives up with lock_not_acquired past its timeout") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    lock a(pool, "camera:5", 10s), b(pool, "camera:5", 10s), c(pool, "camera:5", 10s);
    CHECK(co_await a.try_acquire());
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          co_await sleep_for(100ms);
          co_await a.release();
        },
        asio::detached);
    co_await b.acquire(3s);
    CHECK(b.owned());
    const auto start = std::chrono::steady_clock::now();
    const auto f = co_await failure_of(c.acquire(150ms));
    CHECK(std::chrono::steady_clock::now() - start >= 150ms);
    CHECK(f.code == error::lock_not_acquired);
    CHECK_THAT(f.what, Catch::Contains("lock 'camera:5' not acquired within 150 ms"));
    CHECK((co_await failure_of(c.acquire(0ms))).code == error::lock_not_acquired);
    co_await pool.close();
  });
}

TEST_CASE("a guard releases its lock in the background on scope exit") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    lock camera(pool, "camera:6", 10s);
    {
      auto guard = co_await camera.acquire_guard(1s);
      CHECK(guard);
      CHECK(co_await camera.held());
    }
    CHECK_FALSE(camera.owned());
    CHECK(co_await eventually([&] { return server.cli({"EXISTS", "lock:camera:6"}) == "0"; }));
    // The same lock object can be taken again at once.
    auto again = co_await camera.acquire_guard(1s);
    CHECK(co_await again.release());
    CHECK_FALSE(again.lost());
    co_await pool.close();
  });
}

TEST_CASE("a guard reports a lock that was lost while it was held") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    lock camera(pool, "camera:7", 10s);
    std::vector<std::string> lost;
    redcoro::guard_options o;
    o.on_lost = [&](const std::string& name) { lost.push_back(name); };
    {
      auto guard = co_await camera.acquire_guard(1s, o);
      server.cli({"SET", "lock:camera:7", "someone-else"});
    }
    CHECK(co_await eventually([&] { return !lost.empty(); }));
    CHECK(lost == std::vector<std::string>{"camera:7"});
    CHECK(server.cli({"GET", "lock:camera:7"}) == "someone-else");  // not deleted
    server.cli({"DEL", "lock:camera:7"});
    auto guard = co_await camera.acquire_guard(1s);
    server.cli({"SET", "lock:camera:7", "someone-else"});
    CHECK_FALSE(co_await guard.release());
    CHECK(guard.lost());
    co_await pool.close();
  });
}

TEST_CASE("automatic extension keeps a lock past its TTL while the guard lives, and stops with it") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    lock camera(pool, "camera:8", 300ms);
    std::string token;
    {
      redcoro::guard_options o;
      o.auto_extend = true;
      auto guard = co_await camera.acquire_guard(1s, o);
      token = camera.token();
      co_await sleep_for(1s);
      CHECK(co_await value_of(pool, "lock:camera:8") == std::optional<std::string>(token));
      CHECK_FALSE(guard.lost());
    }
    CHECK(co_await eventually([&] { return server.cli({"EXISTS", "lock:camera:8"}) == "0"; }));
    // No extension comes after the release: a new holder's key keeps its own TTL.
    server.cli({"SET", "lock:camera:8", token, "PX", "200"});
    co_await sleep_for(400ms);
    CHECK(server.cli({"EXISTS", "lock:camera:8"}) == "0");
    co_await pool.close();
  });
}

TEST_CASE("automatic extension notices a lock taken over and reports it") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    lock camera(pool, "camera:9", 300ms);
    std::atomic<int> reports{0};
    redcoro::guard_options o;
    o.auto_extend = true;
    o.on_lost = [&](const std::string&) { ++reports; };
    auto guard = co_await camera.acquire_guard(1s, o);
    server.cli({"SET", "lock:camera:9", "thief"});
    CHECK(co_await eventually([&] { return guard.lost(); }, 2s));
    CHECK(reports == 1);
    CHECK(server.cli({"GET", "lock:camera:9"}) == "thief");
    co_await pool.close();
  });
}

TEST_CASE("a try_acquire whose reply was lost reads the key to learn whether it holds the lock") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    lock camera(pool, "camera:10", 10s);
    // The SET NX is held back by the pause, then its connection is killed: it never runs.
    std::optional<bool> taken;
    auto attempt = [&]() -> asio::awaitable<void> { taken = co_await camera.try_acquire(); };
    const auto f = co_await redcoro::test::failure_with_reply_lost(server, attempt());
    CHECK_FALSE(f.code);
    CHECK(taken == std::optional<bool>(false));
    CHECK_FALSE(camera.owned());
    CHECK(co_await camera.try_acquire());
    co_await pool.close();
  });
}

TEST_CASE("lock operations on a key of another type fail with wrong_type") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    lock camera(pool, "camera:11", 10s);
    CHECK(co_await camera.try_acquire());
    server.cli({"DEL", "lock:camera:11"});
    server.cli({"RPUSH", "lock:camera:11", "x"});
    const auto f = co_await failure_of(camera.extend());
    CHECK(f.code == error::wrong_type);
    CHECK_THAT(f.what, Catch::Contains("lock 'camera:11'") && Catch::Contains("WRONGTYPE"));
    CHECK((co_await failure_of(camera.release())).code == error::wrong_type);
    CHECK((co_await failure_of(camera.held())).code == error::wrong_type);
    lock other(pool, "camera:11", 10s);
    CHECK_FALSE(co_await other.try_acquire());  // SET NX sees the key exists
    co_await pool.close();
  });
}

TEST_CASE("a lock refuses an empty name, a non-positive TTL and a second acquisition") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    auto code_of = [&](std::string name, std::chrono::milliseconds ttl) {
      try {
        lock l(pool, std::move(name), ttl);
      } catch (const boost::system::system_error& e) {
        return e.code();
      }
      return boost::system::error_code{};
    };
    CHECK(code_of("", 1s) == error::invalid_config);
    CHECK(code_of("x", 0ms) == error::invalid_config);
    lock l(pool, "camera:12", 1s);
    CHECK(co_await l.try_acquire());
    CHECK((co_await failure_of(l.try_acquire())).code == error::invalid_argument);
    co_await pool.close();
  });
}
