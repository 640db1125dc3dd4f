#include <redcoro/ring_buffer.hpp>

#include <redcoro/transaction.hpp>

#include <algorithm>
#include <tuple>
#include <utility>

namespace redcoro {

namespace {

void check_max_size(std::int64_t n) {
  if (n < 1)
    throw boost::system::system_error(error::invalid_argument,
                                      "ring_buffer max_size must be at least 1, not " + std::to_string(n));
}

template <class R>
boost::asio::awaitable<R> run(connection_pool& pool, request req, std::string key) {
  try {
    co_return co_await pool.execute<R>(req);
  } catch (const boost::system::system_error& e) {
    detail::rethrow_for_key(e, "ring_buffer key", key);
  }
}

boost::asio::awaitable<std::int64_t> run_add(connection_pool& pool, transaction tx, std::string key,
                                             std::int64_t max_size) {
  std::int64_t length = 0;
  try {
    // RPUSH's reply is the length before the trim.
    auto [pushed, trimmed] = co_await pool.execute<std::tuple<std::int64_t, ignore_t>>(tx.commit());
    length = pushed;
  } catch (const boost::system::system_error& e) {
    detail::rethrow_for_key(e, "ring_buffer key", key);
  }
  co_return std::min(length, max_size);
}

boost::asio::awaitable<std::vector<std::string>> read(connection_pool& pool, request req, std::string key,
                                                      bool newest_first) {
  if (req.empty()) co_return std::vector<std::string>{};
  auto items = co_await run<std::vector<std::string>>(pool, std::move(req), std::move(key));
  if (newest_first) std::reverse(items.begin(), items.end());
  co_return items;
}

}  // namespace

ring_buffer::ring_buffer(connection_pool& pool, std::int64_t max_size) : pool_(pool), max_size_(max_size) {
  check_max_size(max_size);
}

void ring_buffer::set_max_size(std::int64_t max_size) {
  check_max_size(max_size);
  max_size_.store(max_size, std::memory_order_relaxed);
}

boost::asio::awaitable<std::int64_t> ring_buffer::append(std::string_view key, std::span<const std::string> items) {
  if (items.empty()) return size(key);
  const std::int64_t max = max_size();
  transaction tx;
  // MULTI, RPUSH, LTRIM and EXEC with their headers fit in 96 bytes besides keys and items.
  std::size_t bytes = 96 + 2 * key.size();
  for (const auto& item : items) bytes += item.size() + 16;
  tx.reserve(bytes);
  tx.push("RPUSH", key, items).push("LTRIM", key, -max, -1);
  return run_add(pool_, std::move(tx), std::string(key), max);
}

boost::asio::awaitable<std::vector<std::string>> ring_buffer::read_all(std::string_view key) {
  request req("LRANGE", key, 0, -1);
  return read(pool_, std::move(req), std::string(key), false);
}

boost::asio::awaitable<std::vector<std::string>> ring_buffer::read_newest(std::string_view key, std::int64_t n) {
  if (n < 0)
    throw boost::system::system_error(error::invalid_argument,
                                      "ring_buffer get_latest: the count must not be negative, not " +
                                          std::to_string(n));
  request req;
  if (n > 0) req.push("LRANGE", key, -n, -1);
  return read(pool_, std::move(req), std::string(key), true);
}

boost::asio::awaitable<std::int64_t> ring_buffer::size(std::string_view key) {
  request req("LLEN", key);
  return run<std::int64_t>(pool_, std::move(req), std::string(key));
}

boost::asio::awaitable<bool> ring_buffer::clear(std::string_view key) {
  request req("DEL", key);
  return run<bool>(pool_, std::move(req), std::string(key));
}

}  // namespace redcoro
