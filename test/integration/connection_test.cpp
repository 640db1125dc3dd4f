// The connection against real redis-server processes.
#include <redcoro/connection.hpp>
#include <redcoro/transaction.hpp>

#include "support/catch.hpp"
#include "support/redis_server.hpp"
#include "support/run_async.hpp"

#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <map>
#include <thread>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using redcoro::connection;
using redcoro::error;
using redcoro::request;
using redcoro::test::redis_server;
using redcoro::test::run_async;
using redcoro::test::server_options;

namespace {

// The code and message of the system_error an awaitable throws.
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

}  // namespace

TEST_CASE("a connection runs commands over TCP and converts typed replies") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.config());
    co_await conn.connect();
    const auto ok = co_await conn.execute<std::string>(request("SET", "greeting", "hello"));
    const auto value = co_await conn.execute<std::optional<std::string>>(request("GET", "greeting"));
    const auto missing = co_await conn.execute<std::optional<std::string>>(request("GET", "nothing"));
    const auto n = co_await conn.execute<std::int64_t>(request("INCRBY", "counter", 41));
    CHECK(ok == "OK");
    CHECK(value == "hello");
    CHECK_FALSE(missing.has_value());
    CHECK(n == 41);
    CHECK(conn.is_open());
  });
}

TEST_CASE("the handshake negotiates RESP3 and reports the server version") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.config());
    co_await conn.connect();
    CHECK(conn.protocol() == 3);
    CHECK_FALSE(conn.server_version().empty());
    const auto info = co_await conn.execute(request("HGETALL", "nothing"));
    CHECK(info.type() == redcoro::resp3::type::map);
  });
}

TEST_CASE("a RESP2 connection works and its flat arrays convert to maps") {
  redis_server server;
  auto cfg = server.config();
  cfg.protocol = 2;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), cfg);
    co_await conn.connect();
    co_await conn.execute(request("HSET", "h", "a", 1, "b", 2));
    const auto h = co_await conn.execute<std::map<std::string, int>>(request("HGETALL", "h"));
    CHECK(conn.protocol() == 2);
    CHECK(h == std::map<std::string, int>{{"a", 1}, {"b", 2}});
  });
}

TEST_CASE("a connection works over a unix socket") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.unix_config());
    co_await conn.connect();
    const auto pong = co_await conn.execute<std::string>(request("PING"));
    CHECK(pong == "PONG");
  });
}

TEST_CASE("ten thousand concurrent coroutines each get their own reply") {
  redis_server server;
  constexpr int n = 10'000;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.config());
    co_await conn.connect();
    int matched = 0, finished = 0;
    for (int i = 0; i < n; ++i) {
      asio::co_spawn(
          ioc,
          [&, i]() -> asio::awaitable<void> {
            const std::string mine = "caller-" + std::to_string(i);
            const auto echoed = co_await conn.execute<std::string>(request("ECHO", mine));
            if (echoed == mine) ++matched;
            ++finished;
          },
          asio::detached);
    }
    while (finished < n) co_await sleep_for(5ms);
    CHECK(matched == n);
    // Coalescing: far fewer writes than requests.
    CHECK(conn.stats().writes < n / 4);
  });
}

TEST_CASE("replies complete requests in the order they were issued") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.config());
    co_await conn.connect();
    std::vector<std::int64_t> seen;
    int finished = 0;
    for (int i = 0; i < 500; ++i) {
      asio::co_spawn(
          ioc,
          [&]() -> asio::awaitable<void> {
            seen.push_back(co_await conn.execute<std::int64_t>(request("INCR", "sequence")));
            ++finished;
          },
          asio::detached);
    }
    while (finished < 500) co_await sleep_for(5ms);
    CHECK(std::is_sorted(seen.begin(), seen.end()));
    CHECK(seen.front() == 1);
    CHECK(seen.back() == 500);
  });
}

TEST_CASE("a pipeline returns one typed reply per command") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.config());
    co_await conn.connect();
    request req;
    req.push("SET", "a", 1).push("INCR", "a").push("GET", "a");
    const auto [ok, incremented, text] =
        co_await conn.execute<std::tuple<std::string, std::int64_t, std::string>>(req);
    CHECK(ok == "OK");
    CHECK(incremented == 2);
    CHECK(text == "2");
  });
}

TEST_CASE("a pipeline received as responses keeps each command's error in place") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.config());
    co_await conn.connect();
    request req;
    req.push("SET", "s", "text").push("LPUSH", "s", "x").push("GET", "s");
    const auto rs = co_await conn.execute<redcoro::responses>(req);
    REQUIRE(rs.size() == 3);
    CHECK(rs[0].str() == "OK");
    CHECK(rs[1].is_error());
    CHECK(rs[1].str().starts_with("WRONGTYPE"));
    CHECK(rs[2].str() == "text");
  });
}

TEST_CASE("a pipeline received as a single value is a size mismatch, not a silent drop") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.config());
    co_await conn.connect();
    request req;
    req.push("PING").push("PING");
    const auto f = co_await failure_of(conn.execute<std::string>(req));
    CHECK(f.code == error::size_mismatch);
    const auto pong = co_await conn.execute<std::string>(request("PING"));
    CHECK(pong == "PONG");
  });
}

TEST_CASE("a transaction runs atomically and returns EXEC's replies") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.config());
    co_await conn.connect();
    redcoro::transaction tx;
    tx.push("INCR", "x").push("INCRBY", "x", 10).push("GET", "x");
    const auto [a, b, c] = co_await conn.execute<std::tuple<std::int64_t, std::int64_t, std::string>>(tx.commit());
    CHECK(a == 1);
    CHECK(b == 11);
    CHECK(c == "11");
  });
}

TEST_CASE("a transaction with a command the server refuses fails with that command's error") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.config());
    co_await conn.connect();
    redcoro::transaction tx;
    tx.push("SET", "y", 1).push("NOSUCHCOMMAND");
    const auto f = co_await failure_of(conn.execute<std::tuple<std::string, std::string>>(tx.commit()));
    CHECK(f.code == error::server_error);
    CHECK_THAT(f.what, Catch::Contains("unknown command"));
    const auto y = co_await conn.execute<std::optional<std::string>>(request("GET", "y"));
    CHECK_FALSE(y.has_value());
  });
}

TEST_CASE("a server error reply reaches the caller with the server's message and the connection goes on") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.config());
    co_await conn.connect();
    co_await conn.execute(request("SET", "text", "value"));
    const auto f = co_await failure_of(conn.execute(request("LPUSH", "text", "x")));
    CHECK(f.code == error::wrong_type);
    CHECK_THAT(f.what, Catch::StartsWith("WRONGTYPE Operation against a key holding the wrong kind of value"));
    const auto after = co_await conn.execute<std::string>(request("GET", "text"));
    CHECK(after == "value");
  });
}

TEST_CASE("an argument larger than max_argument_size fails before it is sent and the connection goes on") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    auto cfg = server.config();
    cfg.max_argument_size = 1024;
    connection conn(ioc.get_executor(), cfg);
    co_await conn.connect();
    const std::string big(1025, 'x');
    const auto written_before = conn.stats().requests;
    const auto f = co_await failure_of(conn.execute(request("SET", "big", big)));
    CHECK(f.code == error::value_too_large);
    CHECK_THAT(f.what, Catch::Contains("1025 bytes") && Catch::Contains("max_argument_size"));
    CHECK(conn.stats().requests == written_before);
    const auto exists = co_await conn.execute<std::int64_t>(request("EXISTS", "big"));
    CHECK(exists == 0);
    co_await conn.execute(request("SET", "big", std::string(1024, 'x')));
    const auto len = co_await conn.execute<std::int64_t>(request("STRLEN", "big"));
    CHECK(len == 1024);
  });
}

TEST_CASE("a failed conversion names the expected and the actual type and leaves the connection usable") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.config());
    co_await conn.connect();
    co_await conn.execute(request("SET", "word", "abc"));
    const auto f = co_await failure_of(conn.execute<std::int64_t>(request("GET", "word")));
    CHECK(f.code == error::unexpected_type);
    CHECK_THAT(f.what, Catch::Contains("expected an integer") && Catch::Contains("bulk string"));
    const auto pong = co_await conn.execute<std::string>(request("PING"));
    CHECK(pong == "PONG");
  });
}

TEST_CASE("a timed-out request does not desynchronize the replies of later requests") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.config());
    co_await conn.connect();
    request slow("BLPOP", "empty-list", 1);
    slow.set_timeout(100ms);
    const auto f = co_await failure_of(conn.execute(slow));
    CHECK(f.code == error::request_timeout);
    CHECK_THAT(f.what, Catch::Contains("may have run"));
    // The BLPOP's null reply arrives later and must not be taken for this one.
    const auto echoed = co_await conn.execute<std::string>(request("ECHO", "mine"));
    CHECK(echoed == "mine");
    CHECK(conn.stats().timeouts == 1);
  });
}

TEST_CASE("a request cancelled through its cancellation slot fails and later requests get their own replies") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.config());
    co_await conn.connect();
    asio::steady_timer timer(ioc, 100ms);
    auto result = co_await (conn.execute(request("BLPOP", "empty-list", 1)) || timer.async_wait(asio::use_awaitable));
    CHECK(result.index() == 1);
    const auto echoed = co_await conn.execute<std::string>(request("ECHO", "after-cancel"));
    CHECK(echoed == "after-cancel");
    CHECK(conn.stats().cancellations == 1);
  });
}

TEST_CASE("a request cancelled before it was sent never reaches the server") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.config());
    // Issued before connect(): it waits, and is cancelled while waiting.
    asio::steady_timer timer(ioc, 20ms);
    auto result = co_await (conn.execute(request("SET", "never", "sent")) || timer.async_wait(asio::use_awaitable));
    CHECK(result.index() == 1);
    co_await conn.connect();
    const auto exists = co_await conn.execute<std::int64_t>(request("EXISTS", "never"));
    CHECK(exists == 0);
  });
}

TEST_CASE("requests issued before connect completes are sent after the handshake") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.config());
    std::optional<std::string> early;
    asio::co_spawn(
        ioc, [&]() -> asio::awaitable<void> { early = co_await conn.execute<std::string>(request("ECHO", "early")); },
        asio::detached);
    co_await conn.connect();
    while (!early) co_await sleep_for(1ms);
    CHECK(*early == "early");
  });
}

TEST_CASE("connecting to a port nobody listens on fails with a clear error") {
  redis_server server;
  auto cfg = server.config();
  server.stop();
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), cfg);
    const auto f = co_await failure_of(conn.connect());
    CHECK(f.code == error::not_connected);
    CHECK_THAT(f.what, Catch::Contains(cfg.address()) && Catch::Contains("refused"));
  });
}

TEST_CASE("connecting to a server that does not answer times out after connect_timeout") {
  redis_server server;
  server.pause();
  auto cfg = server.config();
  cfg.connect_timeout = 300ms;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), cfg);
    const auto start = std::chrono::steady_clock::now();
    const auto f = co_await failure_of(conn.connect());
    CHECK(f.code == error::connect_timeout);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
  });
  server.resume();
}

TEST_CASE("a wrong password fails the handshake with the server's authentication error") {
  redis_server server(server_options{.password = "right"});
  auto cfg = server.config();
  cfg.password = "wrong";
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), cfg);
    const auto f = co_await failure_of(conn.connect());
    CHECK(f.code == error::auth_failed);
    CHECK_THAT(f.what, Catch::Contains("WRONGPASS"));
  });
}

TEST_CASE("a missing password fails the handshake with an authentication error") {
  redis_server server(server_options{.password = "right"});
  auto cfg = server.config();
  cfg.password.clear();
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), cfg);
    const auto f = co_await failure_of(conn.connect());
    CHECK(f.code == error::auth_failed);
    CHECK_THAT(f.what, Catch::Contains("NOAUTH"));
  });
}

TEST_CASE("the right password authenticates") {
  redis_server server(server_options{.password = "right"});
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.config());
    co_await conn.connect();
    const auto pong = co_await conn.execute<std::string>(request("PING"));
    CHECK(pong == "PONG");
  });
}

TEST_CASE("an ACL user authenticates with its username and password") {
  redis_server server;
  server.cli({"ACL", "SETUSER", "alice", "on", ">secret", "~*", "+@all"});
  auto cfg = server.config();
  cfg.username = "alice";
  cfg.password = "secret";
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), cfg);
    co_await conn.connect();
    const auto who = co_await conn.execute<std::string>(request("ACL", "WHOAMI"));
    CHECK(who == "alice");
  });
}

TEST_CASE("the configured database is selected and a database that does not exist is an error") {
  redis_server server;
  auto cfg = server.config();
  cfg.db = 3;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), cfg);
    co_await conn.connect();
    co_await conn.execute(request("SET", "in-db-3", "yes"));
  });
  CHECK(server.cli({"-n", "3", "GET", "in-db-3"}) == "yes");
  CHECK(server.cli({"GET", "in-db-3"}).empty());

  cfg.db = 99;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), cfg);
    const auto f = co_await failure_of(conn.connect());
    CHECK(f.code == error::invalid_database);
    CHECK_THAT(f.what, Catch::Contains("SELECT") && Catch::Contains("out of range"));
  });
}

TEST_CASE("the client name is set during the handshake") {
  redis_server server;
  auto cfg = server.config();
  cfg.client_name = "redcoro-test";
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), cfg);
    co_await conn.connect();
    const auto name = co_await conn.execute<std::string>(request("CLIENT", "GETNAME"));
    CHECK(name == "redcoro-test");
  });
}

TEST_CASE("a server at maxclients refuses the connection with a clear error") {
  redis_server server(server_options{.extra_args = {"--maxclients", "1"}});
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection first(ioc.get_executor(), server.config());
    co_await first.connect();
    connection second(ioc.get_executor(), server.config());
    const auto f = co_await failure_of(second.connect());
    CHECK(f.code == error::max_clients);
  });
}

TEST_CASE("TLS connects with certificate verification and a client certificate") {
  redis_server server(server_options{.tls = true, .tls_auth_clients = "yes"});
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.tls_config());
    co_await conn.connect();
    const auto pong = co_await conn.execute<std::string>(request("PING"));
    CHECK(pong == "PONG");
  });
}

TEST_CASE("TLS rejects a server certificate from an untrusted authority") {
  redis_server server(server_options{.tls = true});
  auto cfg = server.tls_config();
  cfg.tls.ca_file = redcoro::test::tls_certificates::get().other_ca_cert;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), cfg);
    const auto f = co_await failure_of(conn.connect());
    CHECK(f.code == error::tls_handshake_failed);
    CHECK_THAT(f.what, Catch::Contains("certificate"));
  });
}

TEST_CASE("TLS rejects a certificate that does not name the server") {
  redis_server server(server_options{.tls = true});
  auto cfg = server.tls_config();
  cfg.tls.server_name = "not-the-server.example";
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), cfg);
    const auto f = co_await failure_of(conn.connect());
    CHECK(f.code == error::tls_handshake_failed);
  });
}

TEST_CASE("TLS without verification connects when it is turned off explicitly") {
  redis_server server(server_options{.tls = true});
  auto cfg = server.tls_config();
  cfg.tls.ca_file = redcoro::test::tls_certificates::get().other_ca_cert;
  cfg.tls.verify_peer = false;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), cfg);
    co_await conn.connect();
    const auto pong = co_await conn.execute<std::string>(request("PING"));
    CHECK(pong == "PONG");
  });
}

TEST_CASE("a server killed in the middle of a reply fails the request with outcome unknown") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.config());
    co_await conn.connect();
    const std::string chunk(1 << 20, 'x');
    request fill;
    for (int i = 0; i < 64; ++i) fill.push("APPEND", "big", chunk);
    co_await conn.execute<redcoro::responses>(fill);

    std::optional<failure> f;
    asio::co_spawn(
        ioc, [&]() -> asio::awaitable<void> { f = co_await failure_of(conn.execute(request("GET", "big"))); },
        asio::detached);
    const auto before = conn.stats().bytes_read;
    while (conn.stats().bytes_read == before) co_await sleep_for(1ms);
    server.kill();
    while (!f) co_await sleep_for(1ms);
    CHECK(f->code == error::outcome_unknown);
    CHECK_THAT(f->what, Catch::Contains("lost"));
    CHECK_FALSE(conn.is_open());
    const auto after = co_await failure_of(conn.execute(request("PING")));
    CHECK(after.code == error::not_connected);
  });
}

TEST_CASE("a connection killed by the server fails its pending requests and refuses new ones") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.config());
    auto cfg = server.config();
    cfg.client_name = "victim";
    connection victim(ioc.get_executor(), cfg);
    co_await conn.connect();
    co_await victim.connect();
    std::optional<failure> blocked;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> { blocked = co_await failure_of(victim.execute(request("BLPOP", "nothing", 5))); },
        asio::detached);
    co_await sleep_for(50ms);
    co_await conn.execute(request("CLIENT", "KILL", "SKIPME", "YES", "TYPE", "NORMAL"));
    while (!blocked) co_await sleep_for(1ms);
    CHECK(blocked->code == error::outcome_unknown);
    CHECK_FALSE(victim.is_open());
  });
}

TEST_CASE("close fails pending requests with connection_closed") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.config());
    co_await conn.connect();
    std::optional<failure> blocked;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> { blocked = co_await failure_of(conn.execute(request("BLPOP", "nothing", 5))); },
        asio::detached);
    co_await sleep_for(20ms);
    conn.close();
    CHECK_FALSE(conn.is_open());
    while (!blocked) co_await sleep_for(1ms);
    CHECK(blocked->code == error::connection_closed);
  });
}

TEST_CASE("destroying a connection with requests in flight is safe and fails them") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    std::vector<failure> failures;
    {
      connection conn(ioc.get_executor(), server.config());
      co_await conn.connect();
      for (int i = 0; i < 100; ++i) {
        asio::co_spawn(
            ioc,
            [&failures, &conn]() -> asio::awaitable<void> {
              failures.push_back(co_await failure_of(conn.execute(request("BLPOP", "nothing", 5))));
            },
            asio::detached);
      }
      co_await sleep_for(20ms);
    }
    while (failures.size() < 100) co_await sleep_for(1ms);
    for (const auto& f : failures) CHECK(f.code == error::connection_closed);
  });
}

TEST_CASE("push messages go to the push handler and are never taken for replies") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection subscriber(ioc.get_executor(), server.config());
    connection publisher(ioc.get_executor(), server.config());
    std::vector<redcoro::reply> pushes;
    subscriber.set_push_handler([&](redcoro::reply&& r) { pushes.push_back(std::move(r)); });
    co_await subscriber.connect();
    co_await publisher.connect();
    co_await subscriber.execute<redcoro::ignore_t>(request("SUBSCRIBE", "news"));
    while (pushes.empty()) co_await sleep_for(1ms);  // the subscribe confirmation
    const auto receivers = co_await publisher.execute<std::int64_t>(request("PUBLISH", "news", "hello"));
    CHECK(receivers == 1);
    // A command on the subscribed RESP3 connection gets its own reply, not the message.
    const auto pong = co_await subscriber.execute<std::string>(request("ECHO", "still-mine"));
    CHECK(pong == "still-mine");
    while (pushes.size() < 2) co_await sleep_for(1ms);
    CHECK(pushes[0].elements()[0].str() == "subscribe");
    CHECK(pushes[1].elements()[0].str() == "message");
    CHECK(pushes[1].elements()[2].str() == "hello");
    CHECK(subscriber.stats().pushes == 2);
  });
}

TEST_CASE("execute accepts futures, deferred operations and plain callbacks", "[threads]") {
  redis_server server;
  asio::io_context ioc;
  connection conn(ioc.get_executor(), server.config());
  std::thread runner([&] {
    auto guard = asio::make_work_guard(ioc);
    ioc.run();
  });
  conn.connect(asio::use_future).get();
  request ping("PING");
  CHECK(conn.execute<std::string>(ping, asio::use_future).get() == "PONG");

  std::promise<std::string> from_callback;
  conn.execute<std::string>(ping, [&](std::exception_ptr e, std::string v) {
    if (e) from_callback.set_exception(e); else from_callback.set_value(v);
  });
  CHECK(from_callback.get_future().get() == "PONG");

  auto op = conn.execute<std::string>(ping, asio::deferred);
  std::promise<std::string> from_deferred;
  std::move(op)([&](std::exception_ptr, std::string v) { from_deferred.set_value(v); });
  CHECK(from_deferred.get_future().get() == "PONG");

  conn.close();
  ioc.stop();
  runner.join();
}

TEST_CASE("execute is safe to call from many threads at once", "[threads]") {
  redis_server server;
  asio::io_context ioc;
  connection conn(ioc.get_executor(), server.config());
  std::vector<std::thread> runners;
  auto guard = asio::make_work_guard(ioc);
  for (int i = 0; i < 2; ++i) runners.emplace_back([&] { ioc.run(); });
  conn.connect(asio::use_future).get();
  std::atomic<int> ok{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < 250; ++i) {
        const std::string mine = std::to_string(t) + ":" + std::to_string(i);
        request req("ECHO", mine);
        if (conn.execute<std::string>(req, asio::use_future).get() == mine) ++ok;
      }
    });
  }
  for (auto& c : callers) c.join();
  CHECK(ok == 1000);
  conn.close();
  guard.reset();
  ioc.stop();
  for (auto& r : runners) r.join();
}

TEST_CASE("a bulk larger than the configured maximum is a protocol error that closes the connection") {
  redis_server server;
  auto cfg = server.config();
  cfg.limits.max_bulk_size = 1024;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), cfg);
    co_await conn.connect();
    co_await conn.execute(request("SET", "large", std::string(4096, 'z')));
    const auto f = co_await failure_of(conn.execute(request("GET", "large")));
    CHECK(f.code == error::outcome_unknown);
    CHECK_THAT(f.what, Catch::Contains("bulk string larger"));
    CHECK_FALSE(conn.is_open());
  });
}

TEST_CASE("an empty request completes at once with no replies") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection conn(ioc.get_executor(), server.config());
    co_await conn.connect();
    const request empty;
    const auto rs = co_await conn.execute<redcoro::responses>(empty);
    CHECK(rs.empty());
  });
}

// A peer that answers the handshake like Redis and then sends scripted bytes, for the
// protocol violations a real server never commits.
namespace {

class scripted_peer {
 public:
  explicit scripted_peer(asio::io_context& ioc) : acceptor_(ioc, {asio::ip::make_address("127.0.0.1"), 0}) {}

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }

  // Accepts one client, answers HELLO with a minimal RESP3 map, then for the next request
  // sends `script` and closes if `close_after`.
  asio::awaitable<void> serve(std::string script, bool close_after) {
    auto socket = co_await acceptor_.async_accept(asio::use_awaitable);
    char buf[4096];
    co_await socket.async_read_some(asio::buffer(buf), asio::use_awaitable);
    const std::string hello = "%1\r\n$5\r\nproto\r\n:3\r\n";
    co_await asio::async_write(socket, asio::buffer(hello), asio::use_awaitable);
    co_await socket.async_read_some(asio::buffer(buf), asio::use_awaitable);
    co_await asio::async_write(socket, asio::buffer(script), asio::use_awaitable);
    if (close_after) co_return;
    asio::steady_timer t(socket.get_executor(), 10s);
    co_await t.async_wait(asio::use_awaitable);
  }

 private:
  asio::ip::tcp::acceptor acceptor_;
};

failure against_script(std::string script, bool close_after) {
  return run_async([&](asio::io_context& ioc) -> asio::awaitable<failure> {
    scripted_peer peer(ioc);
    asio::co_spawn(ioc, peer.serve(script, close_after), asio::detached);
    redcoro::config cfg;
    cfg.port = peer.port();
    connection conn(ioc.get_executor(), cfg);
    co_await conn.connect();
    co_return co_await failure_of(conn.execute(request("GET", "k")));
  });
}

}  // namespace

TEST_CASE("a malformed reply is a protocol error naming the problem") {
  const auto f = against_script("?garbage\r\n", false);
  CHECK(f.code == error::outcome_unknown);
  CHECK_THAT(f.what, Catch::Contains("protocol error") && Catch::Contains("invalid RESP type byte"));
}

TEST_CASE("a reply cut off by the server closing the connection fails the request") {
  const auto f = against_script("$10\r\nabc", true);
  CHECK(f.code == error::outcome_unknown);
  CHECK_THAT(f.what, Catch::Contains("closed the connection"));
}

TEST_CASE("a reply nested deeper than the limit is a protocol error") {
  std::string nested;
  for (int i = 0; i < 40; ++i) nested += "*1\r\n";
  const auto f = against_script(nested + ":1\r\n", false);
  CHECK(f.code == error::outcome_unknown);
  CHECK_THAT(f.what, Catch::Contains("nested too deeply"));
}
