// ring_buffer against a real redis-server.
#include <redcoro/ring_buffer.hpp>

#include "support/redis_server.hpp"
#include "support/run_async.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <set>

namespace asio = boost::asio;
using redcoro::connection_pool;
using redcoro::error;
using redcoro::request;
using redcoro::ring_buffer;
using redcoro::test::redis_server;
using redcoro::test::run_async;

namespace readings {

struct reading {
  std::string sensor_id;
  double value = 0;
  std::chrono::system_clock::time_point timestamp;
};

void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const reading& r) {
  jv = {{"sensor_id", r.sensor_id}, {"value", r.value}, {"timestamp", boost::json::value_from(r.timestamp)}};
}

reading tag_invoke(boost::json::value_to_tag<reading>, const boost::json::value& jv) {
  const auto& o = jv.as_object();
  return {boost::json::value_to<std::string>(o.at("sensor_id")), boost::json::value_to<double>(o.at("value")),
          boost::json::value_to<std::chrono::system_clock::time_point>(o.at("timestamp"))};
}

}  // namespace readings

namespace {

redcoro::pool_config settings_for(const redis_server& server) {
  redcoro::pool_config pc;
  pc.connection = server.config();
  return pc;
}

template <class T>
asio::awaitable<boost::system::error_code> code_of(asio::awaitable<T> op, std::string* what = nullptr) {
  try {
    co_await std::move(op);
  } catch (const boost::system::system_error& e) {
    if (what) *what = e.what();
    co_return e.code();
  }
  co_return boost::system::error_code{};
}

}  // namespace

TEST_CASE("a ring keeps only its newest max_size items, oldest first") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    ring_buffer rb(pool, 5);
    std::int64_t size = 0;
    for (int i = 1; i <= 6; ++i) size = co_await rb.add("sensor_data", "reading" + std::to_string(i));
    const auto all = co_await rb.get_all<std::string>("sensor_data");
    CHECK(size == 5);
    CHECK(all == std::vector<std::string>{"reading2", "reading3", "reading4", "reading5", "reading6"});
    co_await pool.close();
  });
}

TEST_CASE("get_latest returns the newest items newest first, none for zero and all for more than the size") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    ring_buffer rb(pool, 10);
    for (int i = 1; i <= 4; ++i) co_await rb.add("r", i);
    const auto two = co_await rb.get_latest<int>("r", 2);
    const auto none = co_await rb.get_latest<int>("r", 0);
    const auto all = co_await rb.get_latest<int>("r", 100);
    CHECK(two == std::vector<int>{4, 3});
    CHECK(none.empty());
    CHECK(all == std::vector<int>{4, 3, 2, 1});
    const auto bad = co_await code_of(rb.get_latest<int>("r", -1));
    CHECK(bad == error::invalid_argument);
    co_await pool.close();
  });
}

TEST_CASE("a ring size of zero or less is rejected") {
  redis_server server;
  asio::io_context ioc;
  connection_pool pool(ioc.get_executor(), settings_for(server));
  CHECK_THROWS_AS(ring_buffer(pool, 0), boost::system::system_error);
  CHECK_THROWS_AS(ring_buffer(pool, -3), boost::system::system_error);
  ring_buffer rb(pool, 2);
  CHECK_THROWS_AS(rb.set_max_size(0), boost::system::system_error);
}

TEST_CASE("size and clear report and remove a ring") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    ring_buffer rb(pool, 3);
    const auto empty = co_await rb.size("r");
    co_await rb.add("r", "a");
    co_await rb.add("r", "b");
    const auto two = co_await rb.size("r");
    const bool cleared = co_await rb.clear("r");
    const bool again = co_await rb.clear("r");
    const auto after = co_await rb.size("r");
    CHECK(empty == 0);
    CHECK(two == 2);
    CHECK(cleared);
    CHECK_FALSE(again);
    CHECK(after == 0);
    co_await pool.close();
  });
}

TEST_CASE("add_many appends a batch in one step and trims it") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    ring_buffer rb(pool, 3);
    const std::vector<int> batch{1, 2, 3, 4, 5};
    const auto size = co_await rb.add_many("r", batch);
    const auto all = co_await rb.get_all<int>("r");
    CHECK(size == 3);
    CHECK(all == std::vector<int>{3, 4, 5});
    CHECK(pool.stats().commands == 1);
    co_await pool.close();
  });
}

TEST_CASE("lowering max_size trims the ring on its next add") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    ring_buffer rb(pool, 10);
    for (int i = 1; i <= 8; ++i) co_await rb.add("r", i);
    rb.set_max_size(3);
    co_await rb.add("r", 9);
    const auto all = co_await rb.get_all<int>("r");
    CHECK(all == std::vector<int>{7, 8, 9});
    co_await pool.close();
  });
}

TEST_CASE("structured values are stored as JSON that redis-cli reads back") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    ring_buffer rb(pool, 100);
    const readings::reading r{"temp1", 25.5, std::chrono::system_clock::now()};
    co_await rb.add("temperature_readings", r);
    const auto back = co_await rb.get_all<readings::reading>("temperature_readings");
    REQUIRE(back.size() == 1);
    CHECK(back[0].sensor_id == "temp1");
    CHECK(back[0].value == 25.5);
    CHECK(std::chrono::abs(back[0].timestamp - r.timestamp) < std::chrono::microseconds(1));
    co_await pool.close();
  });
  const auto text = server.cli({"LRANGE", "temperature_readings", "0", "-1"});
  const auto doc = boost::json::parse(text).as_object();
  CHECK(doc.at("sensor_id").as_string() == "temp1");
  CHECK(doc.at("value").as_double() == 25.5);
}

TEST_CASE("a stored value that does not decode is an error naming the key") {
  redis_server server;
  server.cli({"RPUSH", "mixed", "not json"});
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    ring_buffer rb(pool, 10);
    std::string what;
    const auto code = co_await code_of(rb.get_all<readings::reading>("mixed"), &what);
    CHECK(code == error::decode_failed);
    CHECK_THAT(what, Catch::Contains("ring_buffer key 'mixed'"));
    co_await pool.close();
  });
}

TEST_CASE("a ring on a key holding another type fails with WRONGTYPE naming the key") {
  redis_server server;
  server.cli({"SET", "plain", "string"});
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    ring_buffer rb(pool, 10);
    std::string what;
    const auto code = co_await code_of(rb.add("plain", "x"), &what);
    CHECK(code == error::wrong_type);
    CHECK_THAT(what, Catch::Contains("'plain'") && Catch::Contains("WRONGTYPE"));
    const auto read = co_await code_of(rb.get_all<std::string>("plain"));
    CHECK(read == error::wrong_type);
    co_await pool.close();
  });
}

TEST_CASE("64 concurrent writers never leave more than max_size items and lose none of the newest") {
  redis_server server;
  constexpr int writers = 64, per_writer = 50, max_size = 100;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    ring_buffer rb(pool, max_size);
    int running = writers;
    std::int64_t largest = 0;
    std::vector<std::string> order;  // the order the server confirmed them in
    for (int w = 0; w < writers; ++w) {
      asio::co_spawn(
          ioc,
          [&, w]() -> asio::awaitable<void> {
            for (int i = 0; i < per_writer; ++i) {
              const std::string item = std::to_string(w) + ":" + std::to_string(i);
              co_await rb.add("shared", item);
              order.push_back(item);
            }
            --running;
          },
          asio::detached);
    }
    // Sample the length while they run.
    asio::steady_timer t(ioc);
    while (running > 0) {
      largest = std::max(largest, co_await rb.size("shared"));
      t.expires_after(std::chrono::milliseconds(1));
      co_await t.async_wait(asio::use_awaitable);
    }
    const auto all = co_await rb.get_all<std::string>("shared");
    CHECK(largest <= max_size);
    REQUIRE(all.size() == max_size);
    // Replies come back in the order the server ran the adds: the ring holds exactly the
    // last max_size confirmed items.
    const std::vector<std::string> newest(order.end() - max_size, order.end());
    CHECK(all == newest);
    co_await pool.close();
  });
}
