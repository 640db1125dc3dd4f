// ring_buffer against a real redis-server.
#include <redcoro/ring_buffer.hpp>

#include "support/catch.hpp"
#include "support/failure_of.hpp"
#include "support/redis_server.hpp"
#include "support/run_async.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using redcoro::connection_pool;
using redcoro::error;
using redcoro::ring_buffer;
using redcoro::test::code_thrown_by;
using redcoro::test::failure_of;
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

// Runs a test body with a pool and a ring of `max_size` items.
template <class Body>
void with_ring(const redis_server& server, std::int64_t max_size, Body body) {
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    ring_buffer rb(pool, max_size);
    co_await body(pool, rb);
    co_await pool.close();
  });
}

}  // namespace

TEST_CASE("a ring keeps only its newest max_size items, oldest first") {
  redis_server server;
  with_ring(server, 5, [&](connection_pool&, ring_buffer& rb) -> asio::awaitable<void> {
    std::vector<std::int64_t> sizes;
    for (int i = 1; i <= 6; ++i) sizes.push_back(co_await rb.add("sensor_data", "reading" + std::to_string(i)));
    const auto all = co_await rb.get_all("sensor_data");
    CHECK(sizes == std::vector<std::int64_t>{1, 2, 3, 4, 5, 5});
    CHECK(all == std::vector<std::string>{"reading2", "reading3", "reading4", "reading5", "reading6"});
  });
}

TEST_CASE("an add is one round trip") {
  redis_server server;
  with_ring(server, 3, [&](connection_pool& pool, ring_buffer& rb) -> asio::awaitable<void> {
    co_await rb.add("r", 1);
    CHECK(pool.stats().commands == 1);
  });
}

TEST_CASE("get_latest returns the newest items, newest first") {
  redis_server server;
  with_ring(server, 10, [&](connection_pool&, ring_buffer& rb) -> asio::awaitable<void> {
    for (int i = 1; i <= 4; ++i) co_await rb.add("r", i);
    const auto two = co_await rb.get_latest<int>("r", 2);
    CHECK(two == std::vector<int>{4, 3});
  });
}

TEST_CASE("get_latest of zero items gives none without asking the server") {
  redis_server server;
  with_ring(server, 10, [&](connection_pool& pool, ring_buffer& rb) -> asio::awaitable<void> {
    co_await rb.add("r", 1);
    const auto none = co_await rb.get_latest<int>("r", 0);
    CHECK(none.empty());
    CHECK(pool.stats().commands == 1);
  });
}

TEST_CASE("get_latest of more items than the ring holds gives all of them") {
  redis_server server;
  with_ring(server, 10, [&](connection_pool&, ring_buffer& rb) -> asio::awaitable<void> {
    for (int i = 1; i <= 4; ++i) co_await rb.add("r", i);
    const auto all = co_await rb.get_latest<int>("r", 100);
    const auto huge = co_await rb.get_latest<int>("r", std::numeric_limits<std::int64_t>::max());
    CHECK(all == std::vector<int>{4, 3, 2, 1});
    CHECK(huge == all);
  });
}

TEST_CASE("get_latest of a negative count is an invalid argument") {
  redis_server server;
  asio::io_context ioc;
  connection_pool pool(ioc.get_executor(), settings_for(server));
  ring_buffer rb(pool, 10);
  CHECK(code_thrown_by([&] { return rb.get_latest<int>("r", -1); }) == error::invalid_argument);
}

TEST_CASE("a missing ring is empty") {
  redis_server server;
  with_ring(server, 10, [&](connection_pool&, ring_buffer& rb) -> asio::awaitable<void> {
    const auto all = co_await rb.get_all("nothing");
    const auto latest = co_await rb.get_latest("nothing", 5);
    const auto size = co_await rb.size("nothing");
    CHECK(all.empty());
    CHECK(latest.empty());
    CHECK(size == 0);
  });
}

TEST_CASE("a max_size of zero or less is an invalid argument") {
  redis_server server;
  asio::io_context ioc;
  connection_pool pool(ioc.get_executor(), settings_for(server));
  const auto ring_of = [&](std::int64_t n) { return [&pool, n] { return ring_buffer(pool, n).max_size(); }; };
  CHECK(code_thrown_by(ring_of(0)) == error::invalid_argument);
  CHECK(code_thrown_by(ring_of(-3)) == error::invalid_argument);
  CHECK_FALSE(code_thrown_by(ring_of(1)));
  ring_buffer rb(pool, 2);
  CHECK(code_thrown_by([&] { rb.set_max_size(0); return 0; }) == error::invalid_argument);
  CHECK(rb.max_size() == 2);
}

TEST_CASE("a ring of one keeps only the last item") {
  redis_server server;
  with_ring(server, 1, [&](connection_pool&, ring_buffer& rb) -> asio::awaitable<void> {
    co_await rb.add("r", "a");
    co_await rb.add("r", "b");
    const auto all = co_await rb.get_all("r");
    CHECK(all == std::vector<std::string>{"b"});
  });
}

TEST_CASE("size counts the items and clear removes the ring") {
  redis_server server;
  with_ring(server, 3, [&](connection_pool&, ring_buffer& rb) -> asio::awaitable<void> {
    co_await rb.add("r", "a");
    co_await rb.add("r", "b");
    const auto two = co_await rb.size("r");
    const bool cleared = co_await rb.clear("r");
    const bool again = co_await rb.clear("r");
    const auto after = co_await rb.size("r");
    CHECK(two == 2);
    CHECK(cleared);
    CHECK_FALSE(again);
    CHECK(after == 0);
  });
}

TEST_CASE("clear leaves other rings alone") {
  redis_server server;
  with_ring(server, 3, [&](connection_pool&, ring_buffer& rb) -> asio::awaitable<void> {
    co_await rb.add("a", 1);
    co_await rb.add("b", 2);
    co_await rb.clear("a");
    const auto b = co_await rb.get_all<int>("b");
    CHECK(b == std::vector<int>{2});
  });
}

TEST_CASE("add_many appends a batch in one round trip and trims it") {
  redis_server server;
  with_ring(server, 3, [&](connection_pool& pool, ring_buffer& rb) -> asio::awaitable<void> {
    const std::vector<int> batch{1, 2, 3, 4, 5};
    const auto size = co_await rb.add_many("r", batch);
    const auto commands = pool.stats().commands;
    const auto all = co_await rb.get_all<int>("r");
    CHECK(size == 3);
    CHECK(commands == 1);
    CHECK(all == std::vector<int>{3, 4, 5});
  });
}

TEST_CASE("add_many of nothing adds nothing and reports the size") {
  redis_server server;
  with_ring(server, 3, [&](connection_pool&, ring_buffer& rb) -> asio::awaitable<void> {
    co_await rb.add("r", "x");
    const std::vector<std::string> none;
    const auto size = co_await rb.add_many("r", none);
    CHECK(size == 1);
  });
}

TEST_CASE("lowering max_size trims the ring on its next add") {
  redis_server server;
  with_ring(server, 10, [&](connection_pool&, ring_buffer& rb) -> asio::awaitable<void> {
    for (int i = 1; i <= 8; ++i) co_await rb.add("r", i);
    rb.set_max_size(3);
    const auto before = co_await rb.size("r");
    co_await rb.add("r", 9);
    const auto all = co_await rb.get_all<int>("r");
    CHECK(before == 8);
    CHECK(all == std::vector<int>{7, 8, 9});
  });
}

TEST_CASE("an operation's arguments need not outlive the awaitable it returns") {
  redis_server server;
  with_ring(server, 10, [&](connection_pool&, ring_buffer& rb) -> asio::awaitable<void> {
    asio::awaitable<std::int64_t> add = [&] {
      std::string key = "short-lived";
      std::string value(100, 'x');
      return rb.add(key, value);
    }();
    co_await std::move(add);
    const auto all = co_await rb.get_all("short-lived");
    CHECK(all == std::vector<std::string>{std::string(100, 'x')});
  });
}

TEST_CASE("structured values are stored as JSON that redis-cli reads back") {
  redis_server server;
  with_ring(server, 100, [&](connection_pool&, ring_buffer& rb) -> asio::awaitable<void> {
    const readings::reading r{"temp1", 25.5, std::chrono::system_clock::now()};
    co_await rb.add("temperature_readings", r);
    const auto back = co_await rb.get_all<readings::reading>("temperature_readings");
    REQUIRE(back.size() == 1);
    CHECK(back[0].sensor_id == "temp1");
    CHECK(back[0].value == 25.5);
    CHECK(std::chrono::abs(back[0].timestamp - r.timestamp) < 1us);
  });
  const auto text = server.cli({"LRANGE", "temperature_readings", "0", "-1"});
  const auto doc = boost::json::parse(text).as_object();
  CHECK(doc.at("sensor_id").as_string() == "temp1");
  CHECK(doc.at("value").as_double() == 25.5);
  CHECK(doc.at("timestamp").as_string().ends_with("Z"));
}

TEST_CASE("maps, vectors and time points round-trip through a ring") {
  redis_server server;
  const auto t = std::chrono::system_clock::time_point(std::chrono::microseconds(1'700'000'000'123'456));
  with_ring(server, 10, [&](connection_pool&, ring_buffer& rb) -> asio::awaitable<void> {
    const std::map<std::string, std::vector<int>> m{{"a", {1, 2}}, {"b", {}}};
    co_await rb.add("maps", m);
    co_await rb.add("times", t);
    const auto maps = co_await rb.get_all<std::map<std::string, std::vector<int>>>("maps");
    const auto times = co_await rb.get_all<std::chrono::system_clock::time_point>("times");
    CHECK(maps == std::vector<std::map<std::string, std::vector<int>>>{m});
    CHECK(times == std::vector<std::chrono::system_clock::time_point>{t});
  });
  CHECK(server.cli({"LRANGE", "maps", "0", "-1"}) == R"({"a":[1,2],"b":[]})");
  CHECK(server.cli({"LRANGE", "times", "0", "-1"}) == "2023-11-14T22:13:20.123456Z");
}

TEST_CASE("items pushed with redis-cli are read by the ring") {
  redis_server server;
  server.cli({"RPUSH", "from-cli", R"({"sensor_id":"t9","value":1.5,"timestamp":"2024-01-02T03:04:05Z"})"});
  with_ring(server, 10, [&](connection_pool&, ring_buffer& rb) -> asio::awaitable<void> {
    const auto items = co_await rb.get_all<readings::reading>("from-cli");
    REQUIRE(items.size() == 1);
    CHECK(items[0].sensor_id == "t9");
    CHECK(items[0].value == 1.5);
  });
}

TEST_CASE("a stored value that does not decode is an error naming the key") {
  redis_server server;
  server.cli({"RPUSH", "mixed", "not json"});
  with_ring(server, 10, [&](connection_pool&, ring_buffer& rb) -> asio::awaitable<void> {
    const auto f = co_await failure_of(rb.get_all<readings::reading>("mixed"));
    CHECK(f.code == error::decode_failed);
    CHECK_THAT(f.what, Catch::Contains("ring_buffer key 'mixed'") && Catch::Contains("not json"));
  });
}

TEST_CASE("a ring on a key holding another type fails with WRONGTYPE naming the key") {
  redis_server server;
  server.cli({"SET", "plain", "string"});
  with_ring(server, 10, [&](connection_pool&, ring_buffer& rb) -> asio::awaitable<void> {
    const std::vector<int> batch{1, 2};
    const auto add = co_await failure_of(rb.add("plain", "x"));
    const auto add_many = co_await failure_of(rb.add_many("plain", batch));
    const auto all = co_await failure_of(rb.get_all("plain"));
    const auto latest = co_await failure_of(rb.get_latest("plain", 3));
    const auto size = co_await failure_of(rb.size("plain"));
    CHECK(add.code == error::wrong_type);
    CHECK_THAT(add.what, Catch::StartsWith("ring_buffer key 'plain': WRONGTYPE"));
    CHECK(add_many.code == error::wrong_type);
    CHECK(all.code == error::wrong_type);
    CHECK(latest.code == error::wrong_type);
    CHECK(size.code == error::wrong_type);
    CHECK_THAT(size.what, Catch::Contains("'plain'"));
  });
  CHECK(server.cli({"GET", "plain"}) == "string");
}

TEST_CASE("64 concurrent writers never leave more than max_size items and lose none of the newest") {
  redis_server server;
  constexpr int writers = 64, per_writer = 50, max_size = 100;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    ring_buffer rb(pool, max_size);
    int running = writers;
    std::int64_t largest = 0, largest_reported = 0;
    std::vector<std::string> order;  // the order the server confirmed them in
    for (int w = 0; w < writers; ++w) {
      asio::co_spawn(
          ioc,
          [&, w]() -> asio::awaitable<void> {
            for (int i = 0; i < per_writer; ++i) {
              const std::string item = std::to_string(w) + ":" + std::to_string(i);
              const auto size = co_await rb.add("shared", item);
              largest_reported = std::max(largest_reported, size);
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
      t.expires_after(1ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    const auto all = co_await rb.get_all("shared");
    CHECK(largest <= max_size);
    CHECK(largest_reported == max_size);
    REQUIRE(order.size() == writers * per_writer);
    REQUIRE(all.size() == max_size);
    // One shared connection answers in the order the server ran the adds: the ring holds
    // exactly the last max_size confirmed items.
    const std::vector<std::string> newest(order.end() - max_size, order.end());
    CHECK(all == newest);
    co_await pool.close();
  });
}

TEST_CASE("writers on several connections and threads never leave more than max_size items") {
  redis_server server;
  constexpr int threads = 2, writers = 32, per_writer = 40, max_size = 50;
  auto pc = settings_for(server);
  pc.shared_connections = 4;
  asio::io_context ioc;
  connection_pool pool(ioc.get_executor(), pc);
  ring_buffer rb(pool, max_size);
  std::atomic<int> running{writers};
  for (int w = 0; w < writers; ++w) {
    asio::co_spawn(
        ioc,
        [&, w]() -> asio::awaitable<void> {
          for (int i = 0; i < per_writer; ++i) co_await rb.add("shared", std::to_string(w) + ":" + std::to_string(i));
          if (--running == 0) co_await pool.close();
        },
        asio::detached);
  }
  std::vector<std::thread> pool_threads;
  for (int i = 0; i < threads; ++i) pool_threads.emplace_back([&] { ioc.run_for(60s); });
  for (auto& t : pool_threads) t.join();
  REQUIRE(running == 0);
  // Every item once, and each writer's items in the order it added them.
  std::istringstream items(server.cli({"LRANGE", "shared", "0", "-1"}));
  std::set<std::string> seen;
  std::map<int, int> last_of_writer;
  for (std::string item; std::getline(items, item);) {
    CHECK(seen.insert(item).second);
    const auto colon = item.find(':');
    const int w = std::stoi(item.substr(0, colon)), i = std::stoi(item.substr(colon + 1));
    if (last_of_writer.contains(w)) CHECK(i > last_of_writer[w]);
    last_of_writer[w] = i;
  }
  CHECK(seen.size() == max_size);
}
