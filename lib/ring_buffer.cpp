#include <redcoro/ring_buffer.hpp>

namespace redcoro {

namespace {

void check_max_size(std::int64_t n) {
  if (n < 1)
    throw boost::system::system_error(error::invalid_config,
                                      "ring_buffer max_size must be at least 1, not " + std::to_string(n));
}

}  // namespace

ring_buffer::ring_buffer(connection_pool& pool, std::int64_t max_size) : pool_(pool), max_size_(max_size) {
  check_max_size(max_size);
}

void ring_buffer::set_max_size(std::int64_t max_size) {
  check_max_size(max_size);
  max_size_.store(max_size, std::memory_order_relaxed);
}

void ring_buffer::check_count(std::int64_t n) {
  if (n < 0)
    throw boost::system::system_error(error::invalid_argument,
                                      "ring_buffer get_latest: count must not be negative, not " + std::to_string(n));
}

void ring_buffer::push_trim(transaction& tx, std::string_view key) const {
  tx.push("LTRIM", key, -max_size(), -1);
}

boost::asio::awaitable<std::int64_t> ring_buffer::run_add(std::string_view key, transaction& tx) {
  const request& req = tx.commit();
  std::int64_t length = 0;
  try {
    auto [pushed, trimmed] = co_await pool_.execute<std::tuple<std::int64_t, ignore_t>>(req);
    length = pushed;
  } catch (const boost::system::system_error& e) {
    detail::rethrow_for_key(e, "ring_buffer key", key);
  }
  co_return std::min(length, max_size());
}

boost::asio::awaitable<std::vector<std::string>> ring_buffer::fetch(std::string_view key, const request& req) {
  try {
    co_return co_await pool_.execute<std::vector<std::string>>(req);
  } catch (const boost::system::system_error& e) {
    detail::rethrow_for_key(e, "ring_buffer key", key);
  }
}

boost::asio::awaitable<std::int64_t> ring_buffer::size(std::string_view key) {
  request req("LLEN", key);
  try {
    co_return co_await pool_.execute<std::int64_t>(req);
  } catch (const boost::system::system_error& e) {
    detail::rethrow_for_key(e, "ring_buffer key", key);
  }
}

boost::asio::awaitable<bool> ring_buffer::clear(std::string_view key) {
  request req("DEL", key);
  co_return co_await pool_.execute<std::int64_t>(req) > 0;
}

}  // namespace redcoro
