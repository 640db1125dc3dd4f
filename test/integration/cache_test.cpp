// cache against a real redis-server.
#include <redcoro/cache.hpp>

#include "support/catch.hpp"
#include "support/failure_of.hpp"
#include "support/redis_server.hpp"
#include "support/run_async.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <map>
#include <stdexcept>
#include <thread>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;
using redcoro::cache;
using redcoro::connection_pool;
using redcoro::error;
using redcoro::test::code_thrown_by;
using redcoro::test::failure_of;
using redcoro::test::redis_server;
using redcoro::test::run_async;

namespace profiles {

struct profile {
  std::string name;
  int visits = 0;
  friend bool operator==(const profile&, const profile&) = default;
};

void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const profile& p) {
  jv = {{"name", p.name}, {"visits", p.visits}};
}

profile tag_invoke(boost::json::value_to_tag<profile>, const boost::json::value& jv) {
  const auto& o = jv.as_object();
  return {boost::json::value_to<std::string>(o.at("name")), boost::json::value_to<int>(o.at("visits"))};
}

}  // namespace profiles

namespace {

redcoro::pool_config settings_for(const redis_server& server) {
  redcoro::pool_config pc;
  pc.connection = server.config();
  return pc;
}

redcoro::cache_options with_prefix(std::string prefix) {
  redcoro::cache_options o;
  o.prefix = std::move(prefix);
  return o;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

// Runs `caller` in `n` coroutines at once and waits until all have finished.
template <class Caller>
asio::awaitable<void> call_concurrently(int n, Caller& caller) {
  const auto ex = co_await asio::this_coro::executor;
  int done = 0;
  for (int i = 0; i < n; ++i) asio::co_spawn(ex, caller(), [&](std::exception_ptr) { ++done; });
  while (done < n) co_await sleep_for(5ms);
}

std::int64_t pttl(const redis_server& server, const std::string& key) {
  return std::stoll(server.cli({"PTTL", key}));
}

// Runs a test body with a pool and a cache with prefix "api".
template <class Body>
void with_cache(const redis_server& server, Body body) {
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    cache c(pool, with_prefix("api"));
    co_await body(pool, c);
    co_await pool.close();
  });
}

}  // namespace

TEST_CASE("a cached value is read back as the type it was stored as") {
  redis_server server;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    const profiles::profile ada{"Ada", 3};
    co_await c.set("user:1", ada);
    const auto back = co_await c.get<profiles::profile>("user:1");
    CHECK(back == ada);
  });
}

TEST_CASE("a missing key reads as empty") {
  redis_server server;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    const auto none = co_await c.get("nothing");
    CHECK_FALSE(none.has_value());
  });
}

TEST_CASE("values live under the prefix's hash tag, strings as they are and other types as JSON") {
  redis_server server;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    const profiles::profile ada{"Ada", 3};
    co_await c.set("greeting", "hello");
    co_await c.set("user:1", ada);
  });
  CHECK(server.cli({"GET", "{api}:v:greeting"}) == "hello");
  CHECK(server.cli({"GET", "{api}:v:user:1"}) == R"({"name":"Ada","visits":3})");
}

TEST_CASE("a value set without a TTL does not expire") {
  redis_server server;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    co_await c.set("k", 1);
    const auto t = co_await c.ttl("k");
    CHECK(t.exists);
    CHECK_FALSE(t.remaining.has_value());
  });
  CHECK(pttl(server, "{api}:v:k") == -1);
}

TEST_CASE("a value set with a TTL expires after it") {
  redis_server server;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    co_await c.set("k", 1, 150ms);
    const auto t = co_await c.ttl("k");
    REQUIRE(t.remaining.has_value());
    CHECK(*t.remaining > 0ms);
    CHECK(*t.remaining <= 150ms);
    co_await sleep_for(300ms);
    const auto gone = co_await c.get<int>("k");
    const auto t_after = co_await c.ttl("k");
    CHECK_FALSE(gone.has_value());
    CHECK_FALSE(t_after.exists);
  });
}

TEST_CASE("a TTL that is not positive is an invalid argument") {
  redis_server server;
  asio::io_context ioc;
  connection_pool pool(ioc.get_executor(), settings_for(server));
  cache c(pool, with_prefix("api"));
  CHECK(code_thrown_by([&] { return c.set("k", 1, 0ms); }) == error::invalid_argument);
  CHECK(code_thrown_by([&] { return c.set("k", 1, -5ms); }) == error::invalid_argument);
  CHECK(code_thrown_by([&] { return c.expire("k", 0ms); }) == error::invalid_argument);
  const std::map<std::string, int> items{{"a", 1}};
  CHECK(code_thrown_by([&] { return c.set_many(items, -1ms); }) == error::invalid_argument);
}

TEST_CASE("an invalid prefix is rejected") {
  redis_server server;
  asio::io_context ioc;
  connection_pool pool(ioc.get_executor(), settings_for(server));
  for (const char* prefix : {"", "a{b", "a}b"}) {
    INFO("prefix \"" << prefix << "\"");
    CHECK(code_thrown_by([&] { return cache(pool, with_prefix(prefix)).prefix().size(); }) == error::invalid_config);
  }
}

TEST_CASE("exists tells whether a value is cached") {
  redis_server server;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    co_await c.set("k", "v");
    const bool yes = co_await c.exists("k");
    const bool no = co_await c.exists("other");
    CHECK(yes);
    CHECK_FALSE(no);
  });
}

TEST_CASE("erase removes a value and its metadata and says whether the value existed") {
  redis_server server;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    boost::json::object meta{{"source", "db"}};
    co_await c.set("k", "v", std::nullopt, meta);
    const bool first = co_await c.erase("k");
    const bool second = co_await c.erase("k");
    CHECK(first);
    CHECK_FALSE(second);
  });
  CHECK(server.cli({"EXISTS", "{api}:v:k", "{api}:m:k"}) == "0");
}

TEST_CASE("expire sets a new time to live on the value and its metadata") {
  redis_server server;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    boost::json::object meta{{"source", "db"}};
    co_await c.set("k", "v", std::nullopt, meta);
    const bool set = co_await c.expire("k", 60s);
    const bool missing = co_await c.expire("nothing", 60s);
    CHECK(set);
    CHECK_FALSE(missing);
  });
  const auto value_ttl = pttl(server, "{api}:v:k"), metadata_ttl = pttl(server, "{api}:m:k");
  CHECK(value_ttl > 50'000);
  CHECK(value_ttl <= 60'000);
  CHECK(metadata_ttl > 50'000);
  CHECK(metadata_ttl <= 60'000);
}

TEST_CASE("get_many reads the values found in one MGET, by key") {
  redis_server server;
  with_cache(server, [&](connection_pool& pool, cache& c) -> asio::awaitable<void> {
    co_await c.set("a", 1);
    co_await c.set("c", 3);
    const auto before = pool.stats().commands;
    const std::vector<std::string> keys{"a", "b", "c"};
    const auto found = co_await c.get_many<int>(keys);
    CHECK(pool.stats().commands == before + 1);
    CHECK(found == std::map<std::string, int>{{"a", 1}, {"c", 3}});
    CHECK(c.stats().hits == 2);
    CHECK(c.stats().misses == 1);
  });
}

TEST_CASE("get_many of no keys asks nothing") {
  redis_server server;
  with_cache(server, [&](connection_pool& pool, cache& c) -> asio::awaitable<void> {
    const std::vector<std::string> none;
    const auto found = co_await c.get_many(none);
    CHECK(found.empty());
    CHECK(pool.stats().commands == 0);
  });
}

TEST_CASE("set_many writes every item with the TTL in one round trip") {
  redis_server server;
  with_cache(server, [&](connection_pool& pool, cache& c) -> asio::awaitable<void> {
    const std::map<std::string, int> items{{"a", 1}, {"b", 2}, {"c", 3}};
    co_await c.set_many(items, 60s);
    CHECK(pool.stats().commands == 1);
    CHECK(c.stats().sets == 3);
    const std::vector<std::string> keys{"a", "b", "c"};
    const auto found = co_await c.get_many<int>(keys);
    CHECK(found == items);
  });
  for (const char* k : {"{api}:v:a", "{api}:v:b", "{api}:v:c"}) {
    CHECK(pttl(server, k) > 50'000);
    CHECK(pttl(server, k) <= 60'000);
  }
}

TEST_CASE("set_many without a TTL writes values that do not expire") {
  redis_server server;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    const std::vector<std::pair<std::string, std::string>> items{{"a", "x"}, {"b", "y"}};
    co_await c.set_many(items);
    const auto b = co_await c.get("b");
    CHECK(b == "y");
  });
  CHECK(pttl(server, "{api}:v:a") == -1);
}

TEST_CASE("set_many removes the metadata of the values it overwrites") {
  redis_server server;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    boost::json::object meta{{"v", 1}};
    co_await c.set("a", 1, std::nullopt, meta);
    const std::map<std::string, int> items{{"a", 2}};
    co_await c.set_many(items);
    const auto entry = co_await c.get_with_metadata<int>("a");
    REQUIRE(entry.has_value());
    CHECK(entry->value == 2);
    CHECK(entry->metadata.empty());
  });
  CHECK(server.cli({"EXISTS", "{api}:m:a"}) == "0");
}

TEST_CASE("erase_many removes values and their metadata and counts the values") {
  redis_server server;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    boost::json::object meta{{"v", 1}};
    co_await c.set("a", 1, std::nullopt, meta);
    co_await c.set("b", 2);
    co_await c.set("keep", 3);
    const std::vector<std::string> keys{"a", "b", "missing"};
    const auto removed = co_await c.erase_many(keys);
    const std::vector<std::string> none;
    const auto nothing = co_await c.erase_many(none);
    const auto left = co_await c.keys();
    CHECK(removed == 2);
    CHECK(nothing == 0);
    CHECK(left == std::vector<std::string>{"keep"});
    CHECK(c.stats().deletes == 2);
  });
  CHECK(server.cli({"EXISTS", "{api}:m:a"}) == "0");
}

TEST_CASE("keys lists this cache's keys matching a pattern, without the prefix, sorted") {
  redis_server server;
  server.cli({"SET", "user:9", "not ours"});
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    co_await c.set("user:2", 1);
    co_await c.set("user:1", 1);
    co_await c.set("order:1", 1);
    const auto users = co_await c.keys("user:*");
    const auto all = co_await c.keys();
    CHECK(users == std::vector<std::string>{"user:1", "user:2"});
    CHECK(all == std::vector<std::string>{"order:1", "user:1", "user:2"});
  });
}

TEST_CASE("keys never lists metadata") {
  redis_server server;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    boost::json::object meta{{"source", "db"}};
    co_await c.set("k", 1, std::nullopt, meta);
    const auto all = co_await c.keys();
    CHECK(all == std::vector<std::string>{"k"});
  });
}

TEST_CASE("keys lists each of many keys once, over many SCAN steps") {
  redis_server server;
  constexpr int n = 2500;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    std::map<std::string, int> items;
    for (int i = 0; i < n; ++i) items.emplace("k" + std::to_string(i), i);
    co_await c.set_many(items);
    const auto all = co_await c.keys();
    REQUIRE(all.size() == n);
    CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
  });
}

TEST_CASE("keys escapes the glob characters of the prefix") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    cache star(pool, with_prefix("a*")), any(pool, with_prefix("a?")), set(pool, with_prefix("[ab]")),
        plain(pool, with_prefix("ab")), b(pool, with_prefix("b")), slash(pool, with_prefix("a\\"));
    co_await star.set("k1", 1);
    co_await any.set("k2", 1);
    co_await set.set("k3", 1);
    co_await plain.set("k4", 1);
    co_await b.set("k5", 1);
    co_await slash.set("k6", 1);
    const auto star_keys = co_await star.keys();
    const auto any_keys = co_await any.keys();
    const auto set_keys = co_await set.keys();
    const auto slash_keys = co_await slash.keys();
    CHECK(star_keys == std::vector<std::string>{"k1"});
    CHECK(any_keys == std::vector<std::string>{"k2"});
    CHECK(set_keys == std::vector<std::string>{"k3"});
    CHECK(slash_keys == std::vector<std::string>{"k6"});
    co_await pool.close();
  });
}

TEST_CASE("clear removes this cache's values and metadata, returns how many values, and leaves the rest") {
  redis_server server;
  server.cli({"SET", "plain", "x"});
  server.cli({"SET", "{api}:other", "not a cache key"});
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    cache api(pool, with_prefix("api")), api_v2(pool, with_prefix("api:v2")), glob(pool, with_prefix("a*"));
    boost::json::object meta{{"source", "db"}};
    for (int i = 0; i < 1500; ++i) co_await api.set("k" + std::to_string(i), i);
    co_await api.set("with-meta", 1, std::nullopt, meta);
    co_await api_v2.set("k", 1);
    co_await glob.set("k", 1);
    const auto removed = co_await api.clear();
    const auto again = co_await api.clear();
    const auto left = co_await api.keys();
    const auto v2 = co_await api_v2.get<int>("k");
    const auto g = co_await glob.get<int>("k");
    CHECK(removed == 1501);
    CHECK(again == 0);
    CHECK(left.empty());
    CHECK(v2 == 1);
    CHECK(g == 1);
    co_await pool.close();
  });
  CHECK(server.cli({"EXISTS", "{api}:m:with-meta"}) == "0");
  CHECK(server.cli({"GET", "plain"}) == "x");
  CHECK(server.cli({"GET", "{api}:other"}) == "not a cache key");
}

TEST_CASE("clear of a prefix with glob characters leaves look-alike prefixes alone") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    cache glob(pool, with_prefix("a*")), plain(pool, with_prefix("ab"));
    co_await glob.set("k", 1);
    co_await plain.set("k", 2);
    const auto removed = co_await glob.clear();
    const auto left = co_await plain.get<int>("k");
    CHECK(removed == 1);
    CHECK(left == 2);
    co_await pool.close();
  });
}

TEST_CASE("metadata is stored beside the value and read with it") {
  redis_server server;
  with_cache(server, [&](connection_pool& pool, cache& c) -> asio::awaitable<void> {
    boost::json::object meta{{"endpoint", "/api"}, {"user_type", "premium"}};
    co_await c.set("user:123", "user data", std::nullopt, meta);
    const auto before = pool.stats().commands;
    const auto entry = co_await c.get_with_metadata("user:123");
    CHECK(pool.stats().commands == before + 1);
    REQUIRE(entry.has_value());
    CHECK(entry->value == "user data");
    CHECK(entry->metadata == meta);
    const auto plain = co_await c.get("user:123");
    CHECK(plain == "user data");
  });
  CHECK(boost::json::parse(server.cli({"GET", "{api}:m:user:123"})) ==
        boost::json::parse(R"({"endpoint":"/api","user_type":"premium"})"));
}

TEST_CASE("a value with metadata is written in one round trip and its metadata gets the same TTL") {
  redis_server server;
  with_cache(server, [&](connection_pool& pool, cache& c) -> asio::awaitable<void> {
    boost::json::object meta{{"source", "db"}};
    co_await c.set("k", 1, 60s, meta);
    CHECK(pool.stats().commands == 1);
  });
  // The metadata, set right after the value in the same transaction, expires with it
  // (Redis 7.0 reads its clock per command, so a millisecond may tick in between).
  CHECK(pttl(server, "{api}:v:k") > 50'000);
  const auto value_expiry = std::stoll(server.cli({"PEXPIRETIME", "{api}:v:k"}));
  const auto metadata_expiry = std::stoll(server.cli({"PEXPIRETIME", "{api}:m:k"}));
  CHECK(metadata_expiry >= value_expiry);
  CHECK(metadata_expiry - value_expiry <= 1);
}

TEST_CASE("metadata expires with its value") {
  redis_server server;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    boost::json::object meta{{"source", "db"}};
    co_await c.set("k", 1, 100ms, meta);
    co_await sleep_for(250ms);
    const auto entry = co_await c.get_with_metadata<int>("k");
    CHECK_FALSE(entry.has_value());
  });
  CHECK(server.cli({"EXISTS", "{api}:v:k", "{api}:m:k"}) == "0");
}

TEST_CASE("a value set without metadata loses the metadata of the value it replaces") {
  redis_server server;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    boost::json::object meta{{"version", 1}};
    co_await c.set("k", "old", std::nullopt, meta);
    co_await c.set("k", "new");
    const auto entry = co_await c.get_with_metadata("k");
    REQUIRE(entry.has_value());
    CHECK(entry->value == "new");
    CHECK(entry->metadata.empty());
  });
  CHECK(server.cli({"EXISTS", "{api}:m:k"}) == "0");
}

TEST_CASE("concurrent writers with and without metadata never leave metadata of another value") {
  redis_server server;
  auto pc = settings_for(server);
  pc.shared_connections = 3;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), pc);
    cache c(pool, with_prefix("api"));
    int running = 16;
    for (int w = 0; w < 16; ++w) {
      asio::co_spawn(
          ioc,
          [&, w]() -> asio::awaitable<void> {
            for (int i = 0; i < 100; ++i) {
              const std::string value = std::to_string(w) + ":" + std::to_string(i);
              if ((w + i) % 2) {
                boost::json::object meta{{"for", value}};
                co_await c.set("k", value, 10s, meta);
              } else {
                co_await c.set("k", value);
              }
            }
            --running;
          },
          asio::detached);
    }
    int checked = 0;
    while (running > 0 || checked == 0) {
      const auto entry = co_await c.get_with_metadata("k");
      if (entry && !entry->metadata.empty()) CHECK(entry->metadata.at("for").as_string() == entry->value);
      ++checked;
    }
    co_await pool.close();
  });
}

TEST_CASE("a cache without metadata writes, expires and erases with single commands") {
  redis_server server;
  server.cli({"CONFIG", "RESETSTAT"});
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    auto options = with_prefix("plain");
    options.metadata = false;
    cache c(pool, options);
    co_await c.set("a", 1, 60s);
    co_await c.set("b", 2);
    const std::map<std::string, int> items{{"c", 3}, {"d", 4}};
    co_await c.set_many(items);
    const bool expired = co_await c.expire("b", 30s);
    const bool erased = co_await c.erase("a");
    const std::vector<std::string> keys{"c", "d"};
    const auto erased_many = co_await c.erase_many(keys);
    const auto left = co_await c.get<int>("b");
    CHECK(expired);
    CHECK(erased);
    CHECK(erased_many == 2);
    CHECK(left == 2);
    co_await pool.close();
  });
  const auto stats = server.cli({"INFO", "commandstats"});
  CHECK_THAT(stats, Catch::Contains("cmdstat_set:calls=2,"));
  CHECK_THAT(stats, Catch::Contains("cmdstat_mset:calls=1,"));
  CHECK_THAT(stats, Catch::Contains("cmdstat_pexpire:calls=1,"));
  CHECK_THAT(stats, Catch::Contains("cmdstat_del:calls=2,"));
  CHECK_THAT(stats, !Catch::Contains("cmdstat_multi"));
  CHECK(server.cli({"KEYS", "{plain}:m:*"}).empty());
}

TEST_CASE("a cache without metadata refuses metadata") {
  redis_server server;
  asio::io_context ioc;
  connection_pool pool(ioc.get_executor(), settings_for(server));
  auto options = with_prefix("plain");
  options.metadata = false;
  cache c(pool, options);
  const boost::json::object meta{{"source", "db"}};
  CHECK(code_thrown_by([&] { return c.set("k", 1, std::nullopt, meta); }) == error::invalid_argument);
  CHECK(code_thrown_by([&] { return c.get_with_metadata("k"); }) == error::invalid_argument);
}

TEST_CASE("get_or_set loads a missing value, caches it with the TTL and then serves it") {
  redis_server server;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    int loads = 0;
    auto loader = [&]() -> asio::awaitable<profiles::profile> {
      ++loads;
      co_return profiles::profile{"Ada", loads};
    };
    const auto first = co_await c.get_or_set("user:1", 60s, loader);
    const auto second = co_await c.get_or_set("user:1", 60s, loader);
    CHECK(first == profiles::profile{"Ada", 1});
    CHECK(second == first);
    CHECK(loads == 1);
    CHECK(c.stats().hits == 1);
    CHECK(c.stats().misses == 1);
    CHECK(c.stats().sets == 1);
  });
  CHECK(pttl(server, "{api}:v:user:1") > 50'000);
}

TEST_CASE("get_or_set accepts a loader returning a plain value") {
  redis_server server;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    auto loader = [] { return std::string("computed"); };
    const std::string v = co_await c.get_or_set("k", std::nullopt, loader);
    CHECK(v == "computed");
  });
  CHECK(server.cli({"GET", "{api}:v:k"}) == "computed");
}

TEST_CASE("concurrent get_or_set callers of one key wait for a single load") {
  redis_server server;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    int loads = 0;
    std::vector<int> results;
    auto loader = [&]() -> asio::awaitable<int> {
      ++loads;
      co_await sleep_for(100ms);
      co_return 42;
    };
    auto caller = [&]() -> asio::awaitable<void> { results.push_back(co_await c.get_or_set("slow", 60s, loader)); };
    co_await call_concurrently(50, caller);
    CHECK(loads == 1);
    CHECK(results == std::vector<int>(50, 42));
    CHECK(c.stats().misses == 50);
  });
}

TEST_CASE("concurrent get_or_set callers of a cached key share one GET") {
  redis_server server;
  with_cache(server, [&](connection_pool& pool, cache& c) -> asio::awaitable<void> {
    co_await c.set("hot", 9);
    int loads = 0;
    std::vector<int> results;
    auto loader = [&] { return ++loads; };
    const auto before = pool.stats().commands;
    auto caller = [&]() -> asio::awaitable<void> { results.push_back(co_await c.get_or_set("hot", 60s, loader)); };
    co_await call_concurrently(20, caller);
    CHECK(pool.stats().commands == before + 1);
    CHECK(loads == 0);
    CHECK(results == std::vector<int>(20, 9));
    CHECK(c.stats().hits == 20);
  });
}

TEST_CASE("a failing loader fails every caller waiting for it and caches nothing") {
  redis_server server;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    int loads = 0, failed = 0;
    auto failing = [&]() -> asio::awaitable<int> {
      ++loads;
      co_await sleep_for(50ms);
      throw std::runtime_error("database down");
    };
    auto caller = [&]() -> asio::awaitable<void> {
      try {
        co_await c.get_or_set("k", 60s, failing);
      } catch (const std::runtime_error& e) {
        if (std::string(e.what()) == "database down") ++failed;
      }
    };
    co_await call_concurrently(10, caller);
    CHECK(loads == 1);
    CHECK(failed == 10);
    const bool cached = co_await c.exists("k");
    CHECK_FALSE(cached);
    auto working = [&]() -> asio::awaitable<int> {
      ++loads;
      co_return 7;
    };
    const int v = co_await c.get_or_set("k", 60s, working);
    CHECK(v == 7);
    CHECK(loads == 2);
  });
}

TEST_CASE("a caller waiting for another's load can be cancelled") {
  redis_server server;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    bool leader_done = false;
    auto loader = [&]() -> asio::awaitable<int> {
      co_await sleep_for(300ms);
      co_return 1;
    };
    const auto ex = co_await asio::this_coro::executor;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          co_await c.get_or_set("k", 60s, loader);
          leader_done = true;
        },
        asio::detached);
    co_await sleep_for(20ms);
    const auto start = std::chrono::steady_clock::now();
    auto waiter = c.get_or_set("k", 60s, loader);
    const auto winner = co_await (std::move(waiter) || sleep_for(30ms));
    CHECK(winner.index() == 1);
    CHECK(std::chrono::steady_clock::now() - start < 250ms);
    CHECK_FALSE(leader_done);
    while (!leader_done) co_await sleep_for(10ms);
    const auto v = co_await c.get<int>("k");
    CHECK(v == 1);
  });
}

TEST_CASE("stats count hits, misses, sets and deletes, with the hit rate") {
  redis_server server;
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    const auto empty = c.stats();
    co_await c.set("a", 1);
    co_await c.set("b", 2);
    co_await c.get<int>("a");
    co_await c.get<int>("a");
    co_await c.get<int>("b");
    co_await c.get<int>("missing");
    co_await c.erase("a");
    co_await c.erase("missing");
    const auto s = c.stats();
    CHECK(empty.hit_rate == 0);
    CHECK(s.hits == 3);
    CHECK(s.misses == 1);
    CHECK(s.sets == 2);
    CHECK(s.deletes == 1);
    CHECK(s.hit_rate == Approx(0.75));
  });
}

TEST_CASE("a cached value that does not decode is an error naming the cache and key") {
  redis_server server;
  server.cli({"SET", "{api}:v:broken", "not json"});
  server.cli({"SET", "{api}:v:meta", "1"});
  server.cli({"SET", "{api}:m:meta", "[not json"});
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    const auto get = co_await failure_of(c.get<profiles::profile>("broken"));
    const std::vector<std::string> keys{"broken"};
    const auto many = co_await failure_of(c.get_many<int>(keys));
    const auto meta = co_await failure_of(c.get_with_metadata<int>("meta"));
    CHECK(get.code == error::decode_failed);
    CHECK_THAT(get.what, Catch::StartsWith("cache 'api' key 'broken': ") && Catch::Contains("not json"));
    CHECK(many.code == error::decode_failed);
    CHECK_THAT(many.what, Catch::Contains("key 'broken'"));
    CHECK(meta.code == error::decode_failed);
    CHECK_THAT(meta.what, Catch::Contains("metadata of key 'meta'"));
  });
}

TEST_CASE("a cache key holding another type fails with WRONGTYPE naming the key") {
  redis_server server;
  server.cli({"RPUSH", "{api}:v:list", "x"});
  with_cache(server, [&](connection_pool&, cache& c) -> asio::awaitable<void> {
    const auto get = co_await failure_of(c.get("list"));
    CHECK(get.code == error::wrong_type);
    CHECK_THAT(get.what, Catch::StartsWith("cache 'api' key 'list': WRONGTYPE"));
  });
}

TEST_CASE("the cache's operations work from several threads at once") {
  redis_server server;
  auto pc = settings_for(server);
  pc.shared_connections = 2;
  asio::io_context ioc;
  connection_pool pool(ioc.get_executor(), pc);
  cache c(pool, with_prefix("mt"));
  std::atomic<int> running{16}, loads{0}, wrong{0};
  auto loader = [&]() -> asio::awaitable<int> {
    ++loads;
    co_await sleep_for(50ms);
    co_return 5;
  };
  for (int w = 0; w < 16; ++w) {
    asio::co_spawn(
        ioc,
        [&, w]() -> asio::awaitable<void> {
          // Catch's assertions are not thread-safe: count here, check at the end.
          if (co_await c.get_or_set("shared", 60s, loader) != 5) ++wrong;
          for (int i = 0; i < 50; ++i) {
            const std::string key = "k" + std::to_string((w * 50 + i) % 40);
            co_await c.set(key, i);
            co_await c.get<int>(key);
          }
          if (--running == 0) co_await pool.close();
        },
        asio::detached);
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) threads.emplace_back([&] { ioc.run_for(60s); });
  for (auto& t : threads) t.join();
  CHECK(running == 0);
  CHECK(wrong == 0);
  CHECK(loads == 1);
  const auto s = c.stats();
  CHECK(s.sets == 16 * 50 + 1);
  CHECK(s.hits + s.misses == 16 * 50 + 16);
}
