// A log rotator on a ring_buffer: an application's log entries go to one ring that keeps
// only the newest entries, readable by any client, e.g.
//   redis-cli LRANGE examples:application_logs -5 -1
// Connects to REDIS_URL (or the URL given as argument).
#include <redcoro/ring_buffer.hpp>

#include "example_main.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <iostream>
#include <optional>

namespace asio = boost::asio;

class log_rotator {
 public:
  log_rotator(redcoro::connection_pool& pool, std::int64_t max_entries) : buffer_(pool, max_entries) {}

  // Adds an entry, a JSON object stored as JSON text; returns how many entries are kept.
  asio::awaitable<std::int64_t> log(std::string_view level, std::string_view message,
                                    boost::json::object metadata = {}) {
    boost::json::object entry;
    entry["timestamp"] = redcoro::encode(std::chrono::system_clock::now());
    entry["level"] = level;
    entry["message"] = message;
    entry["metadata"] = std::move(metadata);
    return buffer_.add(key_, entry);
  }

  // The newest `count` entries, newest first; all of them, oldest first, without a count.
  asio::awaitable<std::vector<boost::json::object>> logs(std::optional<std::int64_t> count = std::nullopt) {
    if (count) return buffer_.get_latest<boost::json::object>(key_, *count);
    return buffer_.get_all<boost::json::object>(key_);
  }

  redcoro::ring_buffer& buffer() { return buffer_; }
  const std::string& key() const { return key_; }

 private:
  redcoro::ring_buffer buffer_;
  std::string key_ = "examples:application_logs";
};

asio::awaitable<void> run(redcoro::connection_pool& pool) {
  log_rotator logger(pool, 50);
  co_await logger.buffer().clear(logger.key());

  boost::json::object started{{"version", "1.0.0"}};
  co_await logger.log("INFO", "Application started", started);
  for (int i = 1; i <= 119; ++i) {
    boost::json::object request_info{{"request_id", i}, {"status", i % 17 == 0 ? 500 : 200}};
    co_await logger.log(i % 17 == 0 ? "ERROR" : "INFO", "handled request " + std::to_string(i), request_info);
  }

  std::cout << "logged 120 entries; the ring keeps " << co_await logger.buffer().size(logger.key()) << "\n";
  std::cout << "the 5 most recent, newest first:\n";
  for (const auto& entry : co_await logger.logs(5)) std::cout << "  " << boost::json::serialize(entry) << "\n";

  const auto all = co_await logger.logs();
  int errors = 0;
  for (const auto& entry : all) errors += entry.at("level") == "ERROR";
  std::cout << "oldest kept: \"" << all.front().at("message").as_string().c_str() << "\"; " << errors
            << " errors among the " << all.size() << " kept entries\n";

  co_await logger.buffer().clear(logger.key());
  co_await pool.close();
}

int main(int argc, char** argv) { return run_example("log_rotator", argc, argv, run); }
