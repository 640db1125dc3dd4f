// Lua scripts: EVALSHA with an EVAL fallback, against a real server.
#include <redcoro/connection_pool.hpp>
#include <redcoro/script.hpp>

#include "support/catch.hpp"
#include "support/redis_server.hpp"
#include "support/run_async.hpp"

#include <boost/asio/io_context.hpp>

namespace asio = boost::asio;
using redcoro::request;
using redcoro::script;
using redcoro::test::redis_server;
using redcoro::test::run_async;

namespace {
const script add_two{"return redis.call('INCRBY', KEYS[1], ARGV[1]) + ARGV[2]"};
}

TEST_CASE("a script's digest is the SHA-1 of its source") {
  const script s{"return 1"};
  CHECK(s.sha1() == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}

TEST_CASE("a script runs by its digest and falls back to its source when the server lost it") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    redcoro::pool_config pc;
    pc.connection = server.config();
    redcoro::connection_pool pool(ioc.get_executor(), pc);
    const auto first = co_await add_two.run<std::int64_t>(pool, 1, "n", 5, 100);
    CHECK(first == 105);
    co_await pool.execute(request("SCRIPT", "FLUSH"));
    const auto second = co_await add_two.run<std::int64_t>(pool, 1, "n", 5, 100);
    CHECK(second == 110);
    const auto cached = co_await pool.execute<std::vector<std::int64_t>>(request("SCRIPT", "EXISTS", add_two.sha1()));
    CHECK(cached == std::vector<std::int64_t>{1});
    co_await pool.close();
  });
}

TEST_CASE("a script error reaches the caller with the server's message") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    redcoro::connection conn(ioc.get_executor(), server.config());
    co_await conn.connect();
    const script broken{"return redis.call('NOSUCH')"};
    std::string what;
    try {
      co_await broken.run<redcoro::reply>(conn, 0);
    } catch (const boost::system::system_error& e) {
      what = e.what();
    }
    CHECK_THAT(what, Catch::Contains("Unknown Redis command"));
  });
}
