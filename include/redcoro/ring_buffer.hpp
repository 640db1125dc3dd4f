// Fixed-size rings of values in Redis lists: each add keeps only the newest `max_size`
// items of its key, for sliding windows, recent readings and rotating logs.
//
//   redcoro::ring_buffer rb{pool, 1000};
//   co_await rb.add("sensor:temp1", reading);                     // atomic append + trim
//   auto last10 = co_await rb.get_latest<reading_t>("sensor:temp1", 10);  // newest first
//
// An add is one round trip: MULTI, RPUSH, LTRIM, EXEC, so concurrent writers never leave
// more than max_size items. Values go through the codec (strings as they are, other types
// as JSON), so `redis-cli LRANGE` reads what add stored. A ring is one key, so it works
// on Redis Cluster as it is.
#pragma once

#include <redcoro/codec.hpp>
#include <redcoro/connection_pool.hpp>
#include <redcoro/detail/keyed_errors.hpp>
#include <redcoro/transaction.hpp>

#include <boost/asio/awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace redcoro {

class ring_buffer {
 public:
  // Throws system_error(error::invalid_config) unless max_size >= 1.
  ring_buffer(connection_pool& pool, std::int64_t max_size);

  std::int64_t max_size() const noexcept { return max_size_.load(std::memory_order_relaxed); }
  // A smaller size trims each ring on its next add.
  void set_max_size(std::int64_t max_size);

  // Appends `value` and trims to the newest max_size items; returns the ring's size after.
  template <class T>
  boost::asio::awaitable<std::int64_t> add(std::string_view key, const T& value) {
    transaction tx;
    std::string encoded;
    encode_to(encoded, value);
    tx.push("RPUSH", key, encoded);
    push_trim(tx, key);
    co_return co_await run_add(key, tx);
  }

  // Appends every value of `values` in order, in the same single round trip.
  template <class Range>
  boost::asio::awaitable<std::int64_t> add_many(std::string_view key, const Range& values) {
    std::vector<std::string> encoded;
    for (const auto& v : values) encoded.push_back(encode(v));
    if (encoded.empty()) co_return co_await size(key);
    transaction tx;
    tx.push("RPUSH", key, encoded);
    push_trim(tx, key);
    co_return co_await run_add(key, tx);
  }

  // Every item, oldest first.
  template <class T>
  boost::asio::awaitable<std::vector<T>> get_all(std::string_view key) {
    request req("LRANGE", key, 0, -1);
    auto items = co_await fetch(key, req);
    co_return decode_all<T>(key, items);
  }

  // The newest n items, newest first: n = 0 gives none, n larger than the ring gives all.
  // Throws system_error(error::invalid_argument) for a negative n.
  template <class T>
  boost::asio::awaitable<std::vector<T>> get_latest(std::string_view key, std::int64_t n) {
    check_count(n);
    if (n == 0) co_return std::vector<T>{};
    request req("LRANGE", key, -n, -1);
    auto items = co_await fetch(key, req);
    std::reverse(items.begin(), items.end());
    co_return decode_all<T>(key, items);
  }

  boost::asio::awaitable<std::int64_t> size(std::string_view key);
  // Removes the ring; true if it existed.
  boost::asio::awaitable<bool> clear(std::string_view key);

 private:
  void push_trim(transaction& tx, std::string_view key) const;
  boost::asio::awaitable<std::int64_t> run_add(std::string_view key, transaction& tx);
  boost::asio::awaitable<std::vector<std::string>> fetch(std::string_view key, const request& req);
  static void check_count(std::int64_t n);

  template <class T>
  static std::vector<T> decode_all(std::string_view key, std::vector<std::string>& items) {
    std::vector<T> out;
    out.reserve(items.size());
    for (auto& item : items) {
      if constexpr (std::is_same_v<T, std::string>)
        out.push_back(std::move(item));
      else
        out.push_back(detail::decode_for_key<T>(item, "ring_buffer key", key));
    }
    return out;
  }

  connection_pool& pool_;
  std::atomic<std::int64_t> max_size_;
};

}  // namespace redcoro
