// Fixed-size rings of values in Redis lists: each add keeps only the newest `max_size`
// items of its key, for sliding windows, recent readings and rotating logs.
//
//   redcoro::ring_buffer rb{pool, 1000};
//   co_await rb.add("sensor:temp1", reading);                             // append + trim
//   auto last10 = co_await rb.get_latest<reading_t>("sensor:temp1", 10);  // newest first
//
// A ring is one list key, stored as it is named, so it works on Redis Cluster and
// `redis-cli LRANGE key 0 -1` shows its items oldest first. Items go through the codec:
// strings as they are, other types as JSON.
//
// An add is one round trip and atomic: MULTI, RPUSH, LTRIM, EXEC. Concurrent writers never
// leave more than max_size items, and an add's reply tells the size right after it. (A Lua
// script would be atomic too, but costs the server about twice as much CPU per add; see
// docs/data_structures.md.)
//
// Each operation builds its request when called, so its arguments need not outlive the
// returned awaitable. Errors throw system_error naming the key, with the server's message
// (e.g. WRONGTYPE when the key holds something else than a list).
#pragma once

#include <redcoro/codec.hpp>
#include <redcoro/connection_pool.hpp>
#include <redcoro/detail/keyed_errors.hpp>

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace redcoro {

class ring_buffer {
 public:
  // Throws system_error(error::invalid_argument) unless max_size >= 1.
  ring_buffer(connection_pool& pool, std::int64_t max_size);

  std::int64_t max_size() const noexcept { return max_size_.load(std::memory_order_relaxed); }
  // A smaller size trims each ring on its next add. Throws like the constructor.
  void set_max_size(std::int64_t max_size);

  // Appends `value` and trims the ring to its newest max_size items; returns its size then.
  template <class T>
  boost::asio::awaitable<std::int64_t> add(std::string_view key, const T& value) {
    std::string item;
    encode_to(item, value);
    return append(key, std::span<const std::string>(&item, 1));
  }

  // Appends the values in order, then trims, in the same one round trip.
  template <class Range>
  boost::asio::awaitable<std::int64_t> add_many(std::string_view key, const Range& values) {
    std::vector<std::string> items;
    if constexpr (requires { std::size(values); }) items.reserve(std::size(values));
    for (const auto& v : values) items.push_back(encode(v));
    return append(key, items);
  }

  // Every item, oldest first.
  template <class T = std::string>
  boost::asio::awaitable<std::vector<T>> get_all(std::string_view key) {
    return decode_items<T>(read_all(key), std::string(key));
  }

  // The newest n items, newest first: none for n = 0, all of them for n >= size.
  // Throws system_error(error::invalid_argument) for a negative n.
  template <class T = std::string>
  boost::asio::awaitable<std::vector<T>> get_latest(std::string_view key, std::int64_t n) {
    return decode_items<T>(read_newest(key, n), std::string(key));
  }

  boost::asio::awaitable<std::int64_t> size(std::string_view key);
  // Removes the ring; true if it existed.
  boost::asio::awaitable<bool> clear(std::string_view key);

 private:
  boost::asio::awaitable<std::int64_t> append(std::string_view key, std::span<const std::string> items);
  boost::asio::awaitable<std::vector<std::string>> read_all(std::string_view key);
  boost::asio::awaitable<std::vector<std::string>> read_newest(std::string_view key, std::int64_t n);

  template <class T>
  static boost::asio::awaitable<std::vector<T>> decode_items(boost::asio::awaitable<std::vector<std::string>> read,
                                                             std::string key) {
    std::vector<std::string> items = co_await std::move(read);
    if constexpr (std::is_same_v<T, std::string>) {
      co_return items;
    } else {
      std::vector<T> out;
      out.reserve(items.size());
      for (const auto& item : items) out.push_back(detail::decode_for_key<T>(item, "ring_buffer key", key));
      co_return out;
    }
  }

  connection_pool& pool_;
  std::atomic<std::int64_t> max_size_;
};

}  // namespace redcoro
