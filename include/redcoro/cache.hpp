// A key-value cache in Redis with a key prefix, TTLs, batch operations, metadata beside
// values, SCAN-based listing, single-flight loading and hit/miss statistics.
//
//   redcoro::cache c{pool, {.prefix = "api"}};
//   co_await c.set("user:1", profile, std::chrono::minutes(5));
//   std::optional<profile_t> p = co_await c.get<profile_t>("user:1");
//   auto v = co_await c.get_or_set<result_t>("report:7", 60s, [&]() { return build_report(7); });
//
// Key layout: every key of one cache shares the hash tag {prefix}, so batch operations work
// on Redis Cluster too: a value lives at "{prefix}:v:<key>", its metadata at
// "{prefix}:m:<key>". keys() lists only values; clear() removes only this cache's keys
// (SCAN and UNLINK, never FLUSHDB). Values go through the codec.
#pragma once

#include <redcoro/codec.hpp>
#include <redcoro/connection_pool.hpp>
#include <redcoro/detail/keyed_errors.hpp>
#include <redcoro/transaction.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace redcoro {

struct cache_options {
  std::string prefix = "cache";
  // TTL for set() calls that give none; empty means no expiry.
  std::optional<std::chrono::milliseconds> default_ttl;
};

struct cache_stats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t sets = 0;
  std::uint64_t deletes = 0;
  double hit_rate = 0;  // hits / (hits + misses), 0 before any lookup
};

// A key's remaining time to live: missing keys do not exist; `remaining` is empty for a
// key without expiry.
struct cache_ttl {
  bool exists = false;
  std::optional<std::chrono::milliseconds> remaining;
};

template <class T>
struct cached_with_metadata {
  T value;
  boost::json::object metadata;  // empty when the value was set without metadata
};

class cache {
 public:
  cache(connection_pool& pool, cache_options options = {});

  const cache_options& options() const noexcept { return options_; }

  template <class T>
  boost::asio::awaitable<std::optional<T>> get(std::string_view key) {
    request req("GET", value_key(key));
    auto text = co_await run<std::optional<std::string>>(key, req);
    count(text.has_value());
    if (!text) co_return std::nullopt;
    co_return decode_value<T>(key, *text);
  }

  template <class T>
  boost::asio::awaitable<std::optional<cached_with_metadata<T>>> get_with_metadata(std::string_view key) {
    request req("MGET", value_key(key), metadata_key(key));
    auto both = co_await run<std::vector<std::optional<std::string>>>(key, req);
    count(both.at(0).has_value());
    if (!both[0]) co_return std::nullopt;
    cached_with_metadata<T> out{decode_value<T>(key, *both[0]), {}};
    if (both[1]) out.metadata = detail::decode_for_key<boost::json::object>(*both[1], "cache metadata of key", key);
    co_return out;
  }

  // Stores `value` with `ttl` (or the default TTL; none means no expiry) and `metadata`,
  // in one atomic step; a value set without metadata loses any metadata it had.
  template <class T>
  boost::asio::awaitable<void> set(std::string_view key, const T& value,
                                   std::optional<std::chrono::milliseconds> ttl = std::nullopt,
                                   std::optional<boost::json::object> metadata = std::nullopt) {
    transaction tx;
    push_set(tx, key, encode(value), effective_ttl(ttl), metadata);
    co_await run<ignore_t>(key, tx.commit());
    sets_.fetch_add(1, std::memory_order_relaxed);
  }

  // Stores every (key, value) pair of `items` in one atomic round trip.
  template <class Range>
  boost::asio::awaitable<void> set_many(const Range& items, std::optional<std::chrono::milliseconds> ttl = std::nullopt) {
    transaction tx;
    std::uint64_t n = 0;
    for (const auto& [key, value] : items) {
      push_set(tx, key, encode(value), effective_ttl(ttl), std::nullopt);
      ++n;
    }
    if (n == 0) co_return;
    co_await run<ignore_t>("(batch)", tx.commit());
    sets_.fetch_add(n, std::memory_order_relaxed);
  }

  // The values found among `keys` (one MGET), by key.
  template <class T>
  boost::asio::awaitable<std::map<std::string, T>> get_many(const std::vector<std::string>& keys) {
    std::map<std::string, T> found;
    if (keys.empty()) co_return found;
    request req;
    push_mget(req, keys);
    auto texts = co_await run<std::vector<std::optional<std::string>>>("(batch)", req);
    for (std::size_t i = 0; i < keys.size() && i < texts.size(); ++i) {
      count(texts[i].has_value());
      if (texts[i]) found.emplace(keys[i], decode_value<T>(keys[i], *texts[i]));
    }
    co_return found;
  }

  // On a miss, runs `loader` (returning awaitable<T>) and caches its result. Concurrent
  // callers for the same key in this process wait for that one load; if it throws, they all
  // get its exception and nothing is cached.
  template <class T, class Loader>
  boost::asio::awaitable<T> get_or_set(std::string_view key, std::optional<std::chrono::milliseconds> ttl,
                                       Loader loader) {
    if (auto hit = co_await get<T>(key)) co_return std::move(*hit);
    auto [f, leader] = join_flight(key);
    if (!leader) {
      std::string text = co_await wait_for(f);
      co_return decode_value<T>(key, text);
    }
    std::exception_ptr failure;
    std::string text;
    std::optional<T> value;
    try {
      value.emplace(co_await loader());
      text = encode(*value);
    } catch (...) {
      failure = std::current_exception();
    }
    if (!failure) {
      try {
        transaction tx;
        push_set(tx, key, text, effective_ttl(ttl), std::nullopt);
        co_await run<ignore_t>(key, tx.commit());
        sets_.fetch_add(1, std::memory_order_relaxed);
      } catch (...) {
        failure = std::current_exception();
      }
    }
    land_flight(key, f, failure, text);
    if (failure) std::rethrow_exception(failure);
    co_return std::move(*value);
  }

  boost::asio::awaitable<bool> remove(std::string_view key);  // true if the key existed
  boost::asio::awaitable<std::int64_t> remove_many(const std::vector<std::string>& keys);
  boost::asio::awaitable<bool> exists(std::string_view key);
  boost::asio::awaitable<cache_ttl> ttl(std::string_view key);
  // Sets a new time to live on the value and its metadata; false if the key is missing.
  boost::asio::awaitable<bool> expire(std::string_view key, std::chrono::milliseconds ttl);

  // Keys matching the glob `pattern` (without the prefix), each once; uses SCAN.
  boost::asio::awaitable<std::vector<std::string>> keys(std::string_view pattern = "*");
  // Removes every value of this cache (and its metadata); returns how many values.
  boost::asio::awaitable<std::int64_t> clear();

  cache_stats stats() const noexcept;

 private:
  struct flight {
    std::mutex mutex;
    bool done = false;
    std::string text;
    std::exception_ptr failure;
    std::vector<boost::asio::any_completion_handler<void(std::exception_ptr, std::string)>> waiters;
  };

  std::string value_key(std::string_view key) const;
  std::string metadata_key(std::string_view key) const;
  std::optional<std::chrono::milliseconds> effective_ttl(std::optional<std::chrono::milliseconds> ttl) const;
  void push_set(transaction& tx, std::string_view key, const std::string& text,
                std::optional<std::chrono::milliseconds> ttl, const std::optional<boost::json::object>& metadata) const;
  void push_mget(request& req, const std::vector<std::string>& keys) const;
  void count(bool hit) noexcept;

  template <class T>
  static T decode_value(std::string_view key, std::string& text) {
    if constexpr (std::is_same_v<T, std::string>)
      return std::move(text);
    else
      return detail::decode_for_key<T>(text, "cache key", key);
  }

  template <class T>
  boost::asio::awaitable<T> run(std::string_view key, const request& req) {
    try {
      co_return co_await pool_.execute<T>(req);
    } catch (const boost::system::system_error& e) {
      detail::rethrow_for_key(e, "cache key", key);
    }
  }

  std::pair<std::shared_ptr<flight>, bool> join_flight(std::string_view key);
  boost::asio::awaitable<std::string> wait_for(std::shared_ptr<flight> f);
  void land_flight(std::string_view key, const std::shared_ptr<flight>& f, std::exception_ptr failure,
                   const std::string& text);

  connection_pool& pool_;
  cache_options options_;
  std::string tag_;  // "{prefix}"
  std::atomic<std::uint64_t> hits_{0}, misses_{0}, sets_{0}, deletes_{0};
  std::mutex flights_mutex_;
  std::unordered_map<std::string, std::shared_ptr<flight>> flights_;
};

}  // namespace redcoro
