// batch_writer<T>: batching, flush interval, retries with backoff, the fallback sink, stop()
// and its flush; no item lost or written twice.
#include <redcoro/batch_writer.hpp>

#include "support/catch.hpp"
#include "support/log_capture.hpp"
#include "support/run_async.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using redcoro::batch_sink;
using redcoro::batch_writer;
using redcoro::batch_writer_options;
using redcoro::circular_buffer;
using redcoro::circular_buffer_options;
using redcoro::test::log_capture;
using redcoro::test::run_async;

namespace {

struct reading {
  int sensor = 0;
  double value = 0;
};

void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const reading& r) {
  jv = {{"sensor", r.sensor}, {"value", r.value}};
}

asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

// Records what a sink was given; fails the first `failures` calls.
struct recording_sink {
  std::mutex mutex;
  std::vector<std::vector<int>> batches;
  int calls = 0;
  int failures = 0;

  batch_sink<int> sink() {
    return [this](std::span<const int> batch) -> asio::awaitable<void> {
      {
        std::lock_guard lk(mutex);
        if (calls++ < failures) throw std::runtime_error("database unavailable");
        batches.emplace_back(batch.begin(), batch.end());
      }
      co_return;
    };
  }
  std::vector<int> items() {
    std::lock_guard lk(mutex);
    std::vector<int> all;
    for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
    return all;
  }
  std::vector<std::size_t> sizes() {
    std::lock_guard lk(mutex);
    std::vector<std::size_t> s;
    for (const auto& b : batches) s.push_back(b.size());
    return s;
  }
};

batch_sink<int> always_failing() {
  return [](std::span<const int>) -> asio::awaitable<void> {
    throw std::runtime_error("disk full");
    co_return;
  };
}

struct fixture {
  log_capture log;
  circular_buffer<int> buffer{quiet_buffer(10'000)};
  asio::io_context ioc;

  circular_buffer_options quiet_buffer(std::size_t capacity) {
    circular_buffer_options o;
    o.capacity = capacity;
    o.logger = log.logger();
    return o;
  }
  batch_writer_options writer_options(std::size_t batch_size, std::chrono::milliseconds flush_interval) {
    batch_writer_options o;
    o.batch_size = batch_size;
    o.flush_interval = flush_interval;
    o.backoff_base = 1ms;
    o.backoff_cap = 4ms;
    o.logger = log.logger();
    return o;
  }
  void put(int from, int to) {
    for (int i = from; i < to; ++i) buffer.put(i);
  }
  // Puts items 0..n-1, starts the writer, waits until `sink` has taken a batch, stops.
  void write_until_taken(batch_writer<int>& writer, recording_sink& sink, int n) {
    run_async(ioc, [&]() -> asio::awaitable<void> {
      put(0, n);
      writer.start();
      while (sink.sizes().empty()) co_await sleep_for(1ms);
      co_await writer.stop();
    }());
  }
};

std::vector<int> iota(int from, int to) {
  std::vector<int> v;
  for (int i = from; i < to; ++i) v.push_back(i);
  return v;
}

}  // namespace

TEST_CASE("the writer hands each batch to the sink as soon as it is full") {
  fixture f;
  recording_sink db;
  batch_writer<int> writer(f.ioc.get_executor(), f.buffer, db.sink(), f.writer_options(500, 60'000ms));
  run_async(f.ioc, [&]() -> asio::awaitable<void> {
    writer.start();
    f.put(0, 1200);
    while (db.sizes().size() < 2) co_await sleep_for(1ms);
    CHECK(db.sizes() == std::vector<std::size_t>{500, 500});
    co_await writer.stop();
  }());
  CHECK(db.sizes() == std::vector<std::size_t>{500, 500, 200});
  CHECK(db.items() == iota(0, 1200));
  const auto s = writer.stats();
  CHECK(s.batches_written == 3);
  CHECK(s.items_written == 1200);
  CHECK(s.failures == 0);
}

TEST_CASE("a partial batch is written once the flush interval has passed") {
  fixture f;
  recording_sink db;
  batch_writer<int> writer(f.ioc.get_executor(), f.buffer, db.sink(), f.writer_options(500, 50ms));
  const auto start = std::chrono::steady_clock::now();
  run_async(f.ioc, [&]() -> asio::awaitable<void> {
    writer.start();
    f.put(0, 7);
    while (db.sizes().empty()) co_await sleep_for(1ms);
    co_await writer.stop();
  }());
  CHECK(std::chrono::steady_clock::now() - start >= 50ms);
  CHECK(db.sizes() == std::vector<std::size_t>{7});
}

TEST_CASE("a failed write is retried with backoff and the batch is written exactly once") {
  fixture f;
  recording_sink db;
  db.failures = 2;
  auto o = f.writer_options(10, 10ms);
  o.attempts = 3;
  o.backoff_base = 20ms;
  o.backoff_cap = 1000ms;
  batch_writer<int> writer(f.ioc.get_executor(), f.buffer, db.sink(), o);
  const auto start = std::chrono::steady_clock::now();
  f.write_until_taken(writer, db, 10);
  CHECK(std::chrono::steady_clock::now() - start >= 60ms);  // 20 ms, then 40 ms
  CHECK(db.items() == iota(0, 10));
  const auto s = writer.stats();
  CHECK(s.failures == 2);
  CHECK(s.retries == 2);
  CHECK(s.batches_written == 1);
  CHECK(s.fallback_items == 0);
  CHECK(f.log.count(spdlog::level::warn, "the sink failed for a batch of 10 items (attempt 1 of 3): database unavailable") == 1);
}

TEST_CASE("a batch the sink keeps refusing goes to the fallback sink and is counted") {
  fixture f;
  recording_sink fallback;
  auto o = f.writer_options(4, 10ms);
  o.attempts = 3;
  batch_writer<int> writer(f.ioc.get_executor(), f.buffer, always_failing(), o, fallback.sink());
  f.write_until_taken(writer, fallback, 4);
  CHECK(fallback.items() == iota(0, 4));
  const auto s = writer.stats();
  CHECK(s.failures == 3);
  CHECK(s.retries == 2);
  CHECK(s.batches_written == 0);
  CHECK(s.fallback_batches == 1);
  CHECK(s.fallback_items == 4);
  CHECK(s.items_lost == 0);
  CHECK(f.log.count(spdlog::level::warn, "a batch of 4 items went to the fallback sink") == 1);
}

TEST_CASE("when both sinks fail the writer keeps the batch until one accepts it") {
  fixture f;
  recording_sink db;
  db.failures = 5;
  recording_sink fallback;
  fallback.failures = 1000;
  auto o = f.writer_options(3, 10ms);
  o.attempts = 2;
  batch_writer<int> writer(f.ioc.get_executor(), f.buffer, db.sink(), o, fallback.sink());
  f.write_until_taken(writer, db, 3);
  CHECK(db.items() == iota(0, 3));
  CHECK(fallback.items().empty());
  const auto s = writer.stats();
  CHECK(s.failures == 5 + 2);  // sink: 2 + 2 + 1 before it accepts; fallback: 2
  CHECK(s.batches_written == 1);
  CHECK(s.items_lost == 0);
  CHECK(f.log.count(spdlog::level::err, "the fallback sink failed for a batch of 3 items") == 2);
}

TEST_CASE("stop flushes everything left in the buffer") {
  fixture f;
  recording_sink db;
  batch_writer<int> writer(f.ioc.get_executor(), f.buffer, db.sink(), f.writer_options(500, 60'000ms));
  run_async(f.ioc, [&]() -> asio::awaitable<void> {
    writer.start();
    co_await sleep_for(5ms);  // the writer now waits for a full batch
    f.put(0, 1234 - 500);
    co_await writer.stop();
  }());
  f.put(734, 1234);  // after stop: stays in the buffer
  CHECK(db.items() == iota(0, 734));
  CHECK(f.buffer.size() == 500);
  CHECK(writer.stats().items_written == 734);
}

TEST_CASE("stop while the sink fails hands the rest to the fallback and loses nothing") {
  fixture f;
  recording_sink fallback;
  auto o = f.writer_options(100, 60'000ms);
  o.backoff_base = 10'000ms;  // stop() cuts the backoff short
  o.backoff_cap = 10'000ms;
  batch_writer<int> writer(f.ioc.get_executor(), f.buffer, always_failing(), o, fallback.sink());
  const auto start = std::chrono::steady_clock::now();
  run_async(f.ioc, [&]() -> asio::awaitable<void> {
    f.put(0, 250);
    writer.start();
    co_await sleep_for(5ms);
    co_await writer.stop();
  }());
  CHECK(std::chrono::steady_clock::now() - start < 9s);
  CHECK(fallback.items() == iota(0, 250));
  CHECK(writer.stats().fallback_items == 250);
  CHECK(writer.stats().items_lost == 0);
}

TEST_CASE("items both sinks refuse during stop are counted as lost and logged as errors") {
  fixture f;
  auto o = f.writer_options(10, 60'000ms);
  o.attempts = 2;
  batch_writer<int> writer(f.ioc.get_executor(), f.buffer, always_failing(), o, always_failing());
  run_async(f.ioc, [&]() -> asio::awaitable<void> {
    f.put(0, 25);
    writer.start();
    co_await writer.stop();
  }());
  CHECK(writer.stats().items_lost == 25);
  CHECK(f.log.count(spdlog::level::err, "10 items LOST") == 2);
  CHECK(f.log.count(spdlog::level::err, "5 items LOST") == 1);
}

TEST_CASE("stop on a writer that was never started completes at once") {
  fixture f;
  recording_sink db;
  batch_writer<int> writer(f.ioc.get_executor(), f.buffer, db.sink(), f.writer_options(10, 10ms));
  f.put(0, 5);
  run_async(f.ioc, writer.stop());
  CHECK(db.items().empty());
  CHECK(f.buffer.size() == 5);
}

TEST_CASE("the writer reports the latency of its last write") {
  fixture f;
  auto slow = [](std::span<const int>) -> asio::awaitable<void> { co_await sleep_for(30ms); };
  batch_writer<int> writer(f.ioc.get_executor(), f.buffer, slow, f.writer_options(10, 10ms));
  run_async(f.ioc, [&]() -> asio::awaitable<void> {
    f.put(0, 10);
    writer.start();
    co_await writer.stop();
  }());
  CHECK(writer.stats().last_latency >= 30ms);
  CHECK(writer.stats().last_latency < 30s);
}

TEST_CASE("json_lines_file appends one JSON document per item") {
  const auto path = std::filesystem::temp_directory_path() /
                    ("redcoro_json_lines_" + std::to_string(::getpid()) + ".jsonl");
  std::filesystem::remove(path);
  auto sink = redcoro::json_lines_file<reading>(path.string());
  const std::vector<reading> first{{1, 2.5}, {2, -1}};
  const std::vector<reading> second{{3, 0.125}};
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    co_await sink(first);
    co_await sink(second);
  });
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::filesystem::remove(path);
  REQUIRE(lines.size() == 3);
  const auto last = boost::json::parse(lines[2]);
  CHECK(last.at("sensor").as_int64() == 3);
  CHECK(last.at("value").as_double() == 0.125);
  CHECK(boost::json::parse(lines[0]).at("value").as_double() == 2.5);
}

TEST_CASE("json_lines_file reports a file it cannot write") {
  auto sink = redcoro::json_lines_file<reading>("/nonexistent-dir/x.jsonl");
  const std::vector<reading> batch{{1, 1}};
  try {
    run_async([&](asio::io_context&) { return sink(batch); });
    FAIL("no error");
  } catch (const boost::system::system_error& e) {
    CHECK(std::string(e.what()).find("/nonexistent-dir/x.jsonl") != std::string::npos);
  }
}

TEST_CASE("invalid writer options are rejected") {
  fixture f;
  auto o = f.writer_options(0, 10ms);
  CHECK_THROWS_AS(batch_writer<int>(f.ioc.get_executor(), f.buffer, always_failing(), o), boost::system::system_error);
  o = f.writer_options(10, 10ms);
  o.attempts = 0;
  CHECK_THROWS_AS(batch_writer<int>(f.ioc.get_executor(), f.buffer, always_failing(), o), boost::system::system_error);
}

TEST_CASE("items from a producer thread all reach the sink once and in order", "[threads]") {
  fixture f;
  recording_sink db;
  db.failures = 3;  // and a few failures on the way
  batch_writer<int> writer(f.ioc.get_executor(), f.buffer, db.sink(), f.writer_options(500, 5ms));
  constexpr int total = 100'000;
  std::thread producer([&] {
    for (int i = 0; i < total; ++i) {
      f.buffer.put(i);
      if (i % 2000 == 0) std::this_thread::sleep_for(200us);
    }
  });
  run_async(f.ioc, [&]() -> asio::awaitable<void> {
    writer.start();
    while (f.buffer.stats().total_added < total) co_await sleep_for(1ms);
    co_await writer.stop();
  }());
  producer.join();
  const auto overflows = f.buffer.stats().overflow_count;
  const auto items = db.items();
  CHECK(items.size() + overflows == total);
  for (std::size_t i = 1; i < items.size(); ++i) REQUIRE(items[i - 1] < items[i]);
  CHECK(writer.stats().items_written == items.size());
}

TEST_CASE("a writer destroyed while running still flushes the buffer") {
  fixture f;
  recording_sink db;
  run_async(f.ioc, [&]() -> asio::awaitable<void> {
    {
      batch_writer<int> writer(f.ioc.get_executor(), f.buffer, db.sink(), f.writer_options(100, 60'000ms));
      writer.start();
      co_await sleep_for(2ms);
      f.put(0, 150);
    }
    while (db.items().size() < 150) co_await sleep_for(1ms);
  }());
  CHECK(db.items() == iota(0, 150));
}
