// A key-value cache in Redis: values with optional TTLs under one key prefix, batch reads
// and writes, JSON metadata beside values, SCAN-based listing, single-flight loading and
// hit/miss statistics.
//
//   redcoro::cache c{pool, {.prefix = "api"}};
//   co_await c.set("user:1", profile, std::chrono::minutes(5));
//   std::optional<profile_t> p = co_await c.get<profile_t>("user:1");
//   auto load = [&]() -> asio::awaitable<report_t> { co_return co_await build_report(7); };
//   report_t r = co_await c.get_or_set("report:7", std::chrono::seconds(60), load);
//
// Key layout: a value lives at "{<prefix>}:v:<key>" and its metadata at "{<prefix>}:m:<key>".
// Every key of one cache shares the hash tag {<prefix>}, so batch operations and the
// value/metadata pairs work on Redis Cluster too; keys() lists only values, and clear()
// removes only this cache's keys (SCAN and UNLINK, never FLUSHDB or KEYS). Values go through
// the codec: strings as they are, other types as JSON, so `redis-cli GET "{api}:v:user:1"`
// shows them.
//
// Every operation is one round trip (keys() and clear() one per SCAN step) and atomic:
// a value and its metadata are written, expired and removed together in MULTI/EXEC, so
// metadata never outlives or belongs to another value. Operations build their requests
// when called, so their arguments need not outlive the returned awaitable; the cache must
// outlive its operations. Errors throw system_error naming the cache and key, with the
// server's message; a stored value that does not decode as the requested type throws
// error::decode_failed.
#pragma once

#include <redcoro/codec.hpp>
#include <redcoro/connection_pool.hpp>
#include <redcoro/detail/single_flight.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace redcoro {

struct cache_options {
  std::string prefix = "cache";  // not empty, without '{' or '}'
  // Whether values may carry metadata. Without, a set is one plain SET (and erase, expire
  // one command) instead of a MULTI/EXEC that also clears the metadata, which halves the
  // server's CPU per set. Every cache sharing a prefix must agree on this.
  bool metadata = true;
};

// Counters since the cache was created; each is read atomically.
struct cache_stats {
  std::uint64_t hits = 0;     // lookups that found a value (get_or_set: each caller, as its key's lookup went)
  std::uint64_t misses = 0;   // lookups that did not
  std::uint64_t sets = 0;     // values written
  std::uint64_t deletes = 0;  // values removed by erase, erase_many and clear
  double hit_rate = 0;        // hits / (hits + misses); 0 before any lookup
};

// What ttl() finds: whether the key exists, and its remaining time to live (empty when the
// value does not expire).
struct cache_ttl {
  bool exists = false;
  std::optional<std::chrono::milliseconds> remaining;
};

template <class T>
struct cache_entry {
  T value;
  boost::json::object metadata;  // empty when the value was set without metadata
};

namespace detail {

template <class T>
struct awaited {
  using type = T;
};
template <class T, class Executor>
struct awaited<boost::asio::awaitable<T, Executor>> {
  using type = T;
};

// What a get_or_set loader produces: T for a loader returning T or awaitable<T>.
template <class Loader>
using loaded_t = typename awaited<std::decay_t<std::invoke_result_t<Loader&>>>::type;

}  // namespace detail

class cache {
 public:
  using ttl_type = std::optional<std::chrono::milliseconds>;  // empty: no expiry

  // Throws system_error(error::invalid_config) for an invalid prefix.
  explicit cache(connection_pool& pool, cache_options options = {});
  cache(const cache&) = delete;
  cache& operator=(const cache&) = delete;

  const std::string& prefix() const noexcept { return options_.prefix; }

  template <class T = std::string>
  boost::asio::awaitable<std::optional<T>> get(std::string_view key) {
    return fetch<T>(request("GET", value_key(key)), std::string(key));
  }

  // The value and its metadata, read together. Throws system_error(error::invalid_argument)
  // on a cache created without metadata.
  template <class T = std::string>
  boost::asio::awaitable<std::optional<cache_entry<T>>> get_with_metadata(std::string_view key) {
    check_metadata();
    return fetch_entry<T>(request("MGET", value_key(key), metadata_key(key)), std::string(key));
  }

  // The values found among `keys`, by key, in one MGET. A key holding something other than
  // a string value reads as missing there (MGET's rule), not as WRONGTYPE.
  template <class T = std::string, class Keys = std::vector<std::string>>
  boost::asio::awaitable<std::map<std::string, T>> get_many(const Keys& keys) {
    std::vector<std::string> names;
    for (const auto& k : keys) names.emplace_back(k);
    request req = mget_request(names);
    return fetch_many<T>(std::move(req), std::move(names));
  }

  // Stores `value`, expiring after `ttl` (never when empty). Any metadata the key had is
  // removed in the same atomic step. Throws system_error(error::invalid_argument) for a
  // TTL that is not positive.
  template <class T>
  boost::asio::awaitable<void> set(std::string_view key, const T& value, ttl_type ttl = std::nullopt) {
    return store(key, encode(value), ttl, nullptr);
  }

  // Stores `value` and `metadata` together, with the same TTL. Throws
  // system_error(error::invalid_argument) on a cache created without metadata.
  template <class T>
  boost::asio::awaitable<void> set(std::string_view key, const T& value, ttl_type ttl,
                                   const boost::json::object& metadata) {
    return store(key, encode(value), ttl, &metadata);
  }

  // Stores every (key, value) pair of `items`, all with `ttl`, atomically in one round trip.
  template <class Items>
  boost::asio::awaitable<void> set_many(const Items& items, ttl_type ttl = std::nullopt) {
    std::vector<std::pair<std::string, std::string>> encoded;
    for (const auto& [key, value] : items) encoded.emplace_back(std::string(key), encode(value));
    return store_many(encoded, ttl);
  }

  // The cached value of `key`; on a miss, runs `loader` (returning T or awaitable<T>) and
  // caches its result with `ttl`. Callers of the same key in this process while one is at
  // work wait for its outcome instead of repeating it (one GET, at most one load); if the
  // load throws, they all get its exception and nothing is cached. Waiters honour
  // cancellation; the loader runs to its end.
  template <class Loader>
  boost::asio::awaitable<detail::loaded_t<Loader>> get_or_set(std::string key, ttl_type ttl, Loader loader);

  // Removes the value and its metadata; true if the value existed.
  boost::asio::awaitable<bool> erase(std::string_view key);
  // Removes the values of `keys` and their metadata; returns how many values existed.
  template <class Keys = std::vector<std::string>>
  boost::asio::awaitable<std::int64_t> erase_many(const Keys& keys) {
    std::vector<std::string> names;
    for (const auto& k : keys) names.emplace_back(k);
    return erase_names(names);
  }

  boost::asio::awaitable<bool> exists(std::string_view key);
  boost::asio::awaitable<cache_ttl> ttl(std::string_view key);
  // Sets a new time to live on the value and its metadata; false if the value is missing.
  boost::asio::awaitable<bool> expire(std::string_view key, std::chrono::milliseconds ttl);

  // The keys of this cache matching the glob `pattern`, without the prefix, sorted, each
  // once (SCAN may report a key twice). Glob characters in the prefix are escaped.
  boost::asio::awaitable<std::vector<std::string>> keys(std::string_view pattern = "*");
  // Removes every value of this cache and its metadata, and nothing else; returns how many
  // values it removed. Keys written while it runs may survive.
  boost::asio::awaitable<std::int64_t> clear();

  cache_stats stats() const noexcept;

 private:
  std::string value_key(std::string_view key) const;
  std::string metadata_key(std::string_view key) const;
  request mget_request(const std::vector<std::string>& keys) const;

  boost::asio::awaitable<void> store(std::string_view key, std::string text, ttl_type ttl,
                                     const boost::json::object* metadata);
  boost::asio::awaitable<void> store_many(const std::vector<std::pair<std::string, std::string>>& items,
                                          ttl_type ttl);
  boost::asio::awaitable<std::int64_t> erase_names(const std::vector<std::string>& keys);
  // Throws system_error(error::invalid_argument) for a TTL that is not positive.
  static void check_ttl(ttl_type ttl);
  // Throws system_error(error::invalid_argument) unless the cache has metadata.
  void check_metadata() const;

  // Rethrows `e` as "cache '<prefix>' key '<key>': ..." or "cache '<prefix>' <what>: ...".
  [[noreturn]] void fail(const boost::system::system_error& e, std::string_view key) const;
  [[noreturn]] void fail_batch(const boost::system::system_error& e, std::string_view what) const;

  void count_lookup(bool hit) noexcept { (hit ? hits_ : misses_).fetch_add(1, std::memory_order_relaxed); }

  template <class T>
  T decode_value(std::string_view key, std::string&& text) const {
    if constexpr (std::is_same_v<T, std::string>) {
      return std::move(text);
    } else {
      try {
        return decode<T>(text);
      } catch (const boost::system::system_error& e) {
        fail(e, key);
      }
    }
  }

  template <class R>
  boost::asio::awaitable<R> read(const request& req, std::string_view key) {
    try {
      co_return co_await pool_.execute<R>(req);
    } catch (const boost::system::system_error& e) {
      fail(e, key);
    }
  }

  template <class T>
  boost::asio::awaitable<std::optional<T>> fetch(request req, std::string key) {
    std::optional<std::string> text;
    try {
      text = co_await pool_.execute<std::optional<std::string>>(req);
    } catch (const boost::system::system_error& e) {
      fail(e, key);
    }
    count_lookup(text.has_value());
    if (!text) co_return std::nullopt;
    co_return decode_value<T>(key, std::move(*text));
  }

  template <class T>
  boost::asio::awaitable<std::optional<cache_entry<T>>> fetch_entry(request req, std::string key) {
    auto both = co_await read<std::vector<std::optional<std::string>>>(req, key);
    count_lookup(both.at(0).has_value());
    if (!both[0]) co_return std::nullopt;
    boost::json::object metadata;
    if (both.at(1)) {
      try {
        metadata = decode<boost::json::object>(*both[1]);
      } catch (const boost::system::system_error& e) {
        fail_batch(e, "metadata of key '" + key + "'");
      }
    }
    cache_entry<T> entry{decode_value<T>(key, std::move(*both[0])), std::move(metadata)};
    co_return entry;
  }

  template <class T>
  boost::asio::awaitable<std::map<std::string, T>> fetch_many(request req, std::vector<std::string> keys) {
    std::map<std::string, T> found;
    if (keys.empty()) co_return found;
    std::vector<std::optional<std::string>> texts;
    try {
      texts = co_await pool_.execute<std::vector<std::optional<std::string>>>(req);
    } catch (const boost::system::system_error& e) {
      fail_batch(e, "get_many");
    }
    for (std::size_t i = 0; i < keys.size() && i < texts.size(); ++i) {
      count_lookup(texts[i].has_value());
      if (texts[i]) found.emplace(keys[i], decode_value<T>(keys[i], std::move(*texts[i])));
    }
    co_return found;
  }

  connection_pool& pool_;
  cache_options options_;
  std::string tag_;  // "{prefix}"
  std::atomic<std::uint64_t> hits_{0}, misses_{0}, sets_{0}, deletes_{0};
  detail::single_flight loads_;
};

template <class Loader>
boost::asio::awaitable<detail::loaded_t<Loader>> cache::get_or_set(std::string key, ttl_type ttl, Loader loader) {
  using T = detail::loaded_t<Loader>;
  check_ttl(ttl);
  // Callers join before looking the key up, so no caller can miss between the leader's
  // store and its landing, and concurrent hits share one GET too.
  auto ticket = loads_.join(key);
  if (!ticket.leader()) {
    detail::single_flight::outcome shared = co_await ticket.wait();
    count_lookup(shared.hit);
    co_return decode_value<T>(key, std::move(shared.text));
  }
  detail::single_flight::outcome result;
  std::optional<T> value;
  std::exception_ptr failure;
  try {
    const request lookup("GET", value_key(key));
    std::optional<std::string> cached = co_await read<std::optional<std::string>>(lookup, key);
    result.hit = cached.has_value();
    count_lookup(result.hit);
    if (cached) {
      result.text = std::move(*cached);
      value.emplace(decode_value<T>(key, std::string(result.text)));
    } else {
      if constexpr (std::is_same_v<std::decay_t<std::invoke_result_t<Loader&>>, T>)
        value.emplace(loader());
      else
        value.emplace(co_await loader());
      result.text = encode(*value);
      co_await store(key, result.text, ttl, nullptr);
    }
  } catch (...) {
    failure = std::current_exception();
  }
  ticket.land(failure, std::move(result));
  if (failure) std::rethrow_exception(failure);
  co_return std::move(*value);
}

}  // namespace redcoro
