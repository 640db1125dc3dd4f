// A sensor logger on a ring_buffer: several sensors log readings concurrently into one
// ring that keeps the newest 1,000, and a dashboard reads the most recent ones.
// Connects to REDIS_URL (or the URL given as argument).
#include <redcoro/ring_buffer.hpp>

#include "example_main.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>

#include <iomanip>
#include <iostream>

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct reading {
  std::string sensor_id;
  double value = 0;
  std::chrono::system_clock::time_point timestamp;
};

// How a reading is stored: a JSON object (the codec turns the time point into ISO 8601).
void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const reading& r) {
  jv = {{"sensor_id", r.sensor_id}, {"value", r.value}, {"timestamp", boost::json::value_from(r.timestamp)}};
}

reading tag_invoke(boost::json::value_to_tag<reading>, const boost::json::value& jv) {
  const auto& o = jv.as_object();
  return {boost::json::value_to<std::string>(o.at("sensor_id")), boost::json::value_to<double>(o.at("value")),
          boost::json::value_to<std::chrono::system_clock::time_point>(o.at("timestamp"))};
}

class sensor_logger {
 public:
  explicit sensor_logger(redcoro::connection_pool& pool, std::int64_t retention = 1000)
      : buffer_(pool, retention) {}

  asio::awaitable<void> log_reading(std::string sensor_id, double value) {
    const reading r{std::move(sensor_id), value, std::chrono::system_clock::now()};
    co_await buffer_.add(key_, r);
  }

  asio::awaitable<std::vector<reading>> recent_readings(std::int64_t count) {
    return buffer_.get_latest<reading>(key_, count);
  }

  asio::awaitable<std::int64_t> size() { return buffer_.size(key_); }
  asio::awaitable<bool> clear() { return buffer_.clear(key_); }

 private:
  redcoro::ring_buffer buffer_;
  std::string key_ = "examples:sensor_readings";
};

// One sensor: a reading every millisecond or so, `count` of them.
asio::awaitable<void> sensor(sensor_logger& logger, std::string id, double base, int count) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (int i = 0; i < count; ++i) {
    co_await logger.log_reading(id, base + (i % 10) * 0.1);
    timer.expires_after(1ms);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

asio::awaitable<void> run(redcoro::connection_pool& pool) {
  sensor_logger logger(pool, 1000);
  co_await logger.clear();

  // Four sensors log 400 readings each, concurrently: 1,600 readings into a ring of 1,000.
  const auto ex = co_await asio::this_coro::executor;
  int running = 4;
  const std::pair<const char*, double> sensors[] = {{"temp1", 21.0}, {"temp2", 19.5}, {"humidity", 40.0}, {"co2", 410.0}};
  for (const auto& [id, base] : sensors)
    asio::co_spawn(ex, sensor(logger, id, base, 400), [&](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
      --running;
    });
  asio::steady_timer timer(ex);
  while (running > 0) {
    timer.expires_after(10ms);
    co_await timer.async_wait(asio::use_awaitable);
  }

  std::cout << "logged 1600 readings; the ring keeps " << co_await logger.size() << "\n";
  std::cout << "the 8 most recent, newest first:\n";
  for (const auto& r : co_await logger.recent_readings(8))
    std::cout << "  " << std::setw(8) << std::left << r.sensor_id << std::right << std::setw(7) << std::fixed
              << std::setprecision(1) << r.value << "  at " << redcoro::encode(r.timestamp) << "\n";
  co_await logger.clear();
  co_await pool.close();
}

int main(int argc, char** argv) { return run_example("sensor_logger", argc, argv, run); }
