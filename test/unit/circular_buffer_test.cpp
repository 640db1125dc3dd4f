// circular_buffer<T>: ring behaviour, statistics, alerts, and the awaitable get() with its
// hand-off between producer threads and consumers (timeouts, cancellation, fairness).
#include <redcoro/circular_buffer.hpp>

#include "support/catch.hpp"
#include "support/log_capture.hpp"
#include "support/run_async.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <future>
#include <mutex>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using redcoro::circular_buffer;
using redcoro::circular_buffer_options;
using redcoro::error;
using redcoro::put_result;
using redcoro::test::log_capture;
using redcoro::test::run_async;

// Counts the allocations made by the thread that enables counting. The other forms of
// new and delete (arrays, nothrow deletes) are defined by the library in terms of these;
// the aligned ones are left alone, as a pair.
namespace {
thread_local bool counting_allocations = false;
thread_local std::size_t allocations = 0;
}  // namespace

void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  if (counting_allocations) ++allocations;
  return std::malloc(n == 0 ? 1 : n);
}
void* operator new(std::size_t n) {
  if (void* p = operator new(n, std::nothrow)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

struct seq_item {
  int producer = 0;
  std::uint64_t seq = 0;
};

// Counts its copies, to tell a copy from a move.
struct counted {
  static inline std::atomic<int> copies{0};
  int value = 0;
  explicit counted(int v = 0) : value(v) {}
  counted(const counted& o) : value(o.value) { ++copies; }
  counted(counted&&) noexcept = default;
  counted& operator=(const counted& o) {
    value = o.value;
    ++copies;
    return *this;
  }
  counted& operator=(counted&&) noexcept = default;
};

// A buffer whose log messages go to `log` rather than to stderr.
circular_buffer_options quiet(std::size_t capacity, const log_capture& log) {
  circular_buffer_options o;
  o.capacity = capacity;
  o.logger = log.logger();
  return o;
}

std::vector<int> iota(int from, int to) {
  std::vector<int> v;
  for (int i = from; i < to; ++i) v.push_back(i);
  return v;
}

struct scoped_env {
  const char* name;
  scoped_env(const char* n, const char* value) : name(n) { ::setenv(n, value, 1); }
  ~scoped_env() { ::unsetenv(name); }
};

std::string config_error(const circular_buffer_options& o) {
  try {
    circular_buffer<int> b(o);
  } catch (const boost::system::system_error& e) {
    CHECK(e.code() == error::invalid_config);
    return e.what();
  }
  FAIL("no error");
  return {};
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

}  // namespace

// ---- the ring ----

TEST_CASE("a buffer of capacity zero is rejected with invalid_config and a clear message") {
  try {
    circular_buffer<int> b(0);
    FAIL("no error");
  } catch (const boost::system::system_error& e) {
    CHECK(e.code() == error::invalid_config);
    CHECK(contains(e.what(), "capacity must be at least 1"));
  }
}

TEST_CASE("invalid alert settings are rejected naming the field") {
  log_capture log;
  auto o = quiet(10, log);
  o.alert_threshold = 0;
  CHECK(contains(config_error(o), "alert_threshold"));
  o.alert_threshold = 100.5;
  CHECK(contains(config_error(o), "alert_threshold"));
  o.alert_threshold = 50;
  o.alert_hysteresis = 60;
  CHECK(contains(config_error(o), "alert_hysteresis"));
}

TEST_CASE("try_get returns at most n items, oldest first") {
  log_capture log;
  circular_buffer<int> b(quiet(10, log));
  for (int i = 0; i < 5; ++i) CHECK(b.put(i) == put_result::stored);
  CHECK(b.size() == 5);
  CHECK(b.try_get(3) == iota(0, 3));
  CHECK(b.try_get(10) == iota(3, 5));
  CHECK(b.try_get(10).empty());
  CHECK(b.empty());
}

TEST_CASE("a full buffer drops its oldest item for a new one and put says so") {
  log_capture log;
  circular_buffer<int> b(quiet(3, log));
  for (int i = 0; i < 3; ++i) CHECK(b.put(i) == put_result::stored);
  CHECK(b.full());
  CHECK(b.put(3) == put_result::dropped_oldest);
  CHECK(b.put(4) == put_result::dropped_oldest);
  CHECK(b.size() == 3);
  CHECK(b.try_get(10) == iota(2, 5));
  const auto s = b.stats();
  CHECK(s.overflow_count == 2);
  CHECK(s.total_added == 5);
}

TEST_CASE("the ring wraps around its storage many times and keeps the order") {
  log_capture log;
  circular_buffer<std::string> b(quiet(8, log));
  int next_in = 0, next_out = 0;
  for (int round = 0; round < 100; ++round) {
    for (int i = 0; i < 5; ++i) b.put(std::to_string(next_in++));
    for (const auto& s : b.try_get(static_cast<std::size_t>(round % 5 + 1))) CHECK(s == std::to_string(next_out++));
    if (b.size() > 3)
      for (const auto& s : b.try_get(b.size() - 2)) CHECK(s == std::to_string(next_out++));
  }
  for (const auto& s : b.try_get(100)) CHECK(s == std::to_string(next_out++));
  CHECK(next_out == next_in);
  CHECK(b.stats().overflow_count == 0);
}

TEST_CASE("put_many stores a range and returns how many older items it dropped") {
  log_capture log;
  circular_buffer<std::string> b(quiet(5, log));
  const std::vector<std::string> first{"a", "b", "c"};
  CHECK(b.put_many(first) == 0);
  CHECK(first.size() == 3);  // copied, not moved from
  std::vector<std::string> second{"d", "e", "f", "g"};
  CHECK(b.put_many(std::move(second)) == 2);
  CHECK(b.try_get(10) == std::vector<std::string>{"c", "d", "e", "f", "g"});
  CHECK(b.stats().overflow_count == 2);
}

TEST_CASE("put_many larger than the capacity keeps the newest items") {
  log_capture log;
  circular_buffer<int> b(quiet(4, log));
  CHECK(b.put_many(iota(0, 10)) == 6);
  CHECK(b.try_get(10) == iota(6, 10));
}

TEST_CASE("peek copies only the items asked for and leaves them in the buffer") {
  log_capture log;
  circular_buffer<counted> b(quiet(100, log));
  for (int i = 0; i < 100; ++i) b.put(counted(i));
  counted::copies = 0;
  const auto first = b.peek(3);
  CHECK(counted::copies == 3);
  REQUIRE(first.size() == 3);
  CHECK(first[0].value == 0);
  CHECK(first[2].value == 2);
  CHECK(b.size() == 100);
  CHECK(b.peek(1000).size() == 100);
}

TEST_CASE("try_get moves items out without copying them") {
  log_capture log;
  circular_buffer<counted> b(quiet(10, log));
  for (int i = 0; i < 10; ++i) b.put(counted(i));
  counted::copies = 0;
  const auto items = b.try_get(10);
  CHECK(items.size() == 10);
  CHECK(counted::copies == 0);
}

TEST_CASE("clear drops every item, says how many, and restarts the statistics") {
  log_capture log;
  circular_buffer<int> b(quiet(4, log));
  for (int i = 0; i < 6; ++i) b.put(i);
  CHECK(b.clear() == 4);
  const auto s = b.stats();
  CHECK(s.size == 0);
  CHECK(s.utilization_pct == 0);
  CHECK(s.total_added == 0);
  CHECK(s.overflow_count == 0);
  CHECK(s.overflow_rate_pct == 0);
  b.put(7);
  CHECK(b.stats().total_added == 1);
  CHECK(b.try_get(10) == std::vector<int>{7});
  CHECK(log.count(spdlog::level::info, "cleared: 4 items dropped") == 1);
}

TEST_CASE("stats report size, capacity, utilization, totals and overflow rate") {
  log_capture log;
  circular_buffer<int> b(quiet(8, log));
  for (int i = 0; i < 10; ++i) b.put(i);
  (void)b.try_get(2);
  const auto s = b.stats();
  CHECK(s.size == 6);
  CHECK(s.capacity == 8);
  CHECK(s.utilization_pct == Approx(75.0));
  CHECK(s.total_added == 10);
  CHECK(s.overflow_count == 2);
  CHECK(s.overflow_rate_pct == Approx(20.0));
  CHECK(s.waiting == 0);
}

TEST_CASE("puts allocate nothing: the storage is allocated once") {
  log_capture log;
  log.logger()->set_level(spdlog::level::off);  // formatting a message allocates
  circular_buffer<seq_item> b(quiet(1000, log));
  counting_allocations = true;
  allocations = 0;
  for (std::uint64_t i = 0; i < 5000; ++i) b.put(seq_item{0, i});  // 4000 of them overflow
  const auto puts = allocations;
  const auto items = b.try_get(1000);
  const auto take = allocations - puts;
  counting_allocations = false;
  CHECK(puts == 0);
  CHECK(take == 1);  // the result vector
  CHECK(items.size() == 1000);
}

// ---- configuration from the environment ----

TEST_CASE("options from the environment read capacity and alert threshold") {
  scoped_env size("REDCORO_BUFFER_MAX_SIZE", "2500");
  scoped_env threshold("REDCORO_BUFFER_ALERT_THRESHOLD", "92.5");
  const auto o = circular_buffer_options::from_env();
  CHECK(o.capacity == 2500);
  CHECK(o.alert_threshold == 92.5);
}

TEST_CASE("options from the environment keep the defaults for unset variables") {
  ::unsetenv("REDCORO_BUFFER_MAX_SIZE");
  ::unsetenv("REDCORO_BUFFER_ALERT_THRESHOLD");
  circular_buffer_options defaults;
  defaults.capacity = 123;
  const auto o = circular_buffer_options::from_env(defaults);
  CHECK(o.capacity == 123);
  CHECK(o.alert_threshold == 80.0);
}

TEST_CASE("bad values in the environment are rejected naming the variable and the value") {
  auto error_for = [](const char* name, const char* value) {
    scoped_env env(name, value);
    try {
      (void)circular_buffer_options::from_env();
    } catch (const boost::system::system_error& e) {
      CHECK(e.code() == error::invalid_config);
      return std::string(e.what());
    }
    FAIL("no error for " << name << "=" << value);
    return std::string();
  };
  for (const char* bad : {"0", "-5", "abc", "12x", "", "1e3"}) {
    const auto what = error_for("REDCORO_BUFFER_MAX_SIZE", bad);
    CHECK(contains(what, std::string("REDCORO_BUFFER_MAX_SIZE='") + bad + "'"));
    CHECK(contains(what, "at least 1"));
  }
  for (const char* bad : {"0", "101", "-1", "high", "nan"}) {
    const auto what = error_for("REDCORO_BUFFER_ALERT_THRESHOLD", bad);
    CHECK(contains(what, std::string("REDCORO_BUFFER_ALERT_THRESHOLD='") + bad + "'"));
    CHECK(contains(what, "percentage"));
  }
}

// ---- alerts ----

TEST_CASE("the utilization alert warns once on reaching the threshold and once more only after recovering") {
  log_capture log;
  auto o = quiet(100, log);  // threshold 80 %, all-clear below 70 %
  circular_buffer<int> b(o);
  for (int i = 0; i < 79; ++i) b.put(i);
  CHECK(log.count(spdlog::level::warn) == 0);
  b.put(79);
  CHECK(log.count(spdlog::level::warn, "utilization high: 80.0% (80/100 items)") == 1);
  // Hovering around the threshold raises nothing more.
  for (int i = 0; i < 200; ++i) {
    (void)b.try_get(1);
    b.put(i);
  }
  for (int i = 0; i < 6; ++i) b.put(i);
  (void)b.try_get(9);  // 86 -> 77: not yet below 70 %
  CHECK(log.count(spdlog::level::warn) == 1);
  CHECK(log.count(spdlog::level::info) == 0);
  (void)b.try_get(8);  // 69
  CHECK(log.count(spdlog::level::info, "back to normal: 69.0% (69/100 items)") == 1);
  for (int i = 0; i < 50; ++i) {  // hovering below the all-clear level
    b.put(i);
    (void)b.try_get(1);
  }
  CHECK(log.count(spdlog::level::info) == 1);
  for (int i = 0; i < 11; ++i) b.put(i);  // 80 again
  CHECK(log.count(spdlog::level::warn, "utilization high") == 2);
  CHECK(log.count(spdlog::level::info) == 1);
}

TEST_CASE("clear lifts an active utilization alert") {
  log_capture log;
  circular_buffer<int> b(quiet(10, log));
  for (int i = 0; i < 9; ++i) b.put(i);
  CHECK(log.count(spdlog::level::warn, "utilization high") == 1);
  b.clear();
  CHECK(log.count(spdlog::level::info, "back to normal") == 1);
  for (int i = 0; i < 8; ++i) b.put(i);
  CHECK(log.count(spdlog::level::warn, "utilization high") == 2);
}

TEST_CASE("overflow warnings are rate-limited, never one per put") {
  log_capture log;
  auto o = quiet(10, log);
  o.overflow_report_interval = 200ms;
  circular_buffer<int> b(o);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10'010; ++i) b.put(i);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  const auto warnings = log.count(spdlog::level::warn, "full: dropped");
  CHECK(warnings >= 1);
  CHECK(warnings <= 1 + static_cast<std::size_t>(elapsed / 200ms));
  CHECK(log.count(spdlog::level::warn, "full: dropped 1 oldest item since the last report (1 dropped of 11 added") == 1);
  std::this_thread::sleep_for(250ms);
  b.put(1);
  CHECK(log.count(spdlog::level::warn, "full: dropped") == warnings + 1);
  CHECK(log.count(spdlog::level::warn, "(10001 dropped of 10011 added, overflow rate 99.900%)") == 1);
}

// ---- get(): completion ----

TEST_CASE("get completes at once when n items are already there") {
  log_capture log;
  circular_buffer<int> b(quiet(10, log));
  for (int i = 0; i < 6; ++i) b.put(i);
  const auto items = run_async([&](asio::io_context&) { return b.get(4, 10s); });
  CHECK(items == iota(0, 4));
  CHECK(b.size() == 2);
}

TEST_CASE("get with a zero count or a zero timeout completes at once") {
  log_capture log;
  circular_buffer<int> b(quiet(10, log));
  b.put(1);
  CHECK(run_async([&](asio::io_context&) { return b.get(0, 10s); }).empty());
  CHECK(run_async([&](asio::io_context&) { return b.get(5, 0s); }) == std::vector<int>{1});
  CHECK(run_async([&](asio::io_context&) { return b.get(5, 0s); }).empty());
}

TEST_CASE("get returns a partial batch when its timeout expires") {
  log_capture log;
  circular_buffer<int> b(quiet(100, log));
  for (int i = 0; i < 7; ++i) b.put(i);
  const auto start = std::chrono::steady_clock::now();
  const auto items = run_async([&](asio::io_context&) { return b.get(50, 100ms); });
  CHECK(std::chrono::steady_clock::now() - start >= 100ms);
  CHECK(items == iota(0, 7));
  CHECK(b.stats().waiting == 0);
}

TEST_CASE("get returns nothing when its timeout expires on an empty buffer") {
  log_capture log;
  circular_buffer<int> b(quiet(100, log));
  CHECK(run_async([&](asio::io_context&) { return b.get(50, 30ms); }).empty());
}

TEST_CASE("get for more than the capacity completes when the buffer is full") {
  log_capture log;
  asio::io_context ioc;
  circular_buffer<int> b(ioc.get_executor(), quiet(5, log));
  std::vector<int> got;
  b.get(1000, 10s, [&](boost::system::error_code ec, std::vector<int> items) {
    CHECK_FALSE(ec);
    got = std::move(items);
  });
  b.put_many(iota(0, 4));
  ioc.poll();
  CHECK(got.empty());
  b.put(4);
  CHECK(b.size() == 0);  // taken by the waiter when it became full
  ioc.run();
  CHECK(got == iota(0, 5));
}

TEST_CASE("a put from another thread wakes a waiting get as soon as its batch is complete", "[threads]") {
  log_capture log;
  circular_buffer<int> b(quiet(100, log));
  asio::io_context ioc;
  std::atomic<bool> waiting{false};
  std::thread producer([&] {
    while (!waiting) std::this_thread::yield();
    std::this_thread::sleep_for(20ms);
    for (int i = 0; i < 10; ++i) b.put(i);
  });
  const auto start = std::chrono::steady_clock::now();
  const auto items = run_async(ioc, [&]() -> asio::awaitable<std::vector<int>> {
    waiting = true;
    co_return co_await b.get(10, 60s);
  }());
  producer.join();
  CHECK(items == iota(0, 10));
  CHECK(std::chrono::steady_clock::now() - start < 30s);
}

TEST_CASE("get completes on the handler's associated executor", "[threads]") {
  log_capture log;
  circular_buffer<int> b(quiet(100, log));
  asio::thread_pool pool(2);
  auto strand = asio::make_strand(pool);
  std::promise<bool> on_strand;
  b.get(3, 60s, asio::bind_executor(strand, [&](boost::system::error_code, std::vector<int>) {
          on_strand.set_value(strand.running_in_this_thread());
        }));
  std::thread producer([&] { b.put_many(iota(0, 3)); });
  producer.join();
  auto f = on_strand.get_future();
  REQUIRE(f.wait_for(30s) == std::future_status::ready);
  CHECK(f.get());
  pool.join();
}

TEST_CASE("a coroutine awaiting get resumes on its own executor", "[threads]") {
  log_capture log;
  circular_buffer<int> b(quiet(100, log));
  asio::thread_pool pool(2);
  auto strand = asio::make_strand(pool);
  std::promise<std::pair<bool, std::size_t>> result;
  asio::co_spawn(
      strand,
      [&]() -> asio::awaitable<void> {
        auto items = co_await b.get(5, 60s);
        result.set_value({strand.running_in_this_thread(), items.size()});
      },
      asio::detached);
  std::thread producer([&] {
    for (int i = 0; i < 5; ++i) {
      std::this_thread::sleep_for(1ms);
      b.put(i);
    }
  });
  producer.join();
  auto f = result.get_future();
  REQUIRE(f.wait_for(30s) == std::future_status::ready);
  const auto [on_strand, n] = f.get();
  CHECK(on_strand);
  CHECK(n == 5);
  pool.join();
}

TEST_CASE("a handler without an executor of its own completes on the buffer's executor") {
  log_capture log;
  asio::io_context ioc;
  circular_buffer<int> b(ioc.get_executor(), quiet(10, log));
  bool on_ioc = false;
  b.get(2, 10s, [&](boost::system::error_code, std::vector<int>) {
    on_ioc = ioc.get_executor().running_in_this_thread();
  });
  b.put_many(iota(0, 2));
  ioc.run();
  CHECK(on_ioc);
}

TEST_CASE("get works with use_future", "[threads]") {
  log_capture log;
  circular_buffer<int> b(quiet(100, log));
  auto f = b.get(3, 60s, asio::use_future);
  std::thread producer([&] { b.put_many(iota(0, 3)); });
  producer.join();
  REQUIRE(f.wait_for(30s) == std::future_status::ready);
  CHECK(f.get() == iota(0, 3));
  auto empty = b.get(3, 20ms, asio::use_future);
  CHECK(empty.get().empty());
}

// ---- get(): fairness and cancellation ----

TEST_CASE("waiting consumers are served first come, first served") {
  log_capture log;
  circular_buffer<int> b(quiet(100, log));
  asio::io_context ioc;
  std::vector<std::pair<int, std::vector<int>>> done;
  for (int c = 0; c < 3; ++c)
    b.get(2, 10s, asio::bind_executor(ioc, [&, c](boost::system::error_code, std::vector<int> items) {
            done.emplace_back(c, std::move(items));
          }));
  CHECK(b.stats().waiting == 3);
  b.put_many(iota(0, 6));
  ioc.run();
  REQUIRE(done.size() == 3);
  CHECK(done[0] == std::pair<int, std::vector<int>>{0, {0, 1}});
  CHECK(done[1] == std::pair<int, std::vector<int>>{1, {2, 3}});
  CHECK(done[2] == std::pair<int, std::vector<int>>{2, {4, 5}});
}

TEST_CASE("a get queued behind another waits its turn even when its own count is there") {
  log_capture log;
  circular_buffer<int> b(quiet(100, log));
  asio::io_context ioc;
  std::vector<int> order;
  b.get(5, 10s, asio::bind_executor(ioc, [&](boost::system::error_code, std::vector<int> items) {
          CHECK(items == iota(0, 5));
          order.push_back(1);
        }));
  b.get(1, 10s, asio::bind_executor(ioc, [&](boost::system::error_code, std::vector<int> items) {
          CHECK(items == std::vector<int>{5});
          order.push_back(2);
        }));
  b.put_many(iota(0, 3));
  ioc.poll();
  CHECK(order.empty());
  b.put_many(iota(3, 6));
  ioc.run();
  CHECK(order == std::vector<int>{1, 2});
}

TEST_CASE("a cancelled get completes with error::cancelled and takes no item") {
  log_capture log;
  circular_buffer<int> b(quiet(100, log));
  asio::io_context ioc;
  asio::cancellation_signal signal;
  boost::system::error_code result;
  bool done = false;
  b.get(10, 10s,
        asio::bind_cancellation_slot(signal.slot(), asio::bind_executor(ioc, [&](boost::system::error_code ec, std::vector<int> items) {
                                       result = ec;
                                       CHECK(items.empty());
                                       done = true;
                                     })));
  b.put_many(iota(0, 4));
  asio::post(ioc, [&] { signal.emit(asio::cancellation_type::terminal); });
  ioc.run();
  CHECK(done);
  CHECK(result == error::cancelled);
  CHECK(b.try_get(10) == iota(0, 4));
  CHECK(b.stats().waiting == 0);
}

TEST_CASE("cancelling the first waiter lets the next one take what is there") {
  log_capture log;
  circular_buffer<int> b(quiet(100, log));
  asio::io_context ioc;
  asio::cancellation_signal signal;
  std::vector<int> second;
  b.get(10, 10s,
        asio::bind_cancellation_slot(signal.slot(), asio::bind_executor(ioc, [](boost::system::error_code ec, std::vector<int>) {
                                       CHECK(ec == error::cancelled);
                                     })));
  b.get(3, 10s, asio::bind_executor(ioc, [&](boost::system::error_code, std::vector<int> items) { second = std::move(items); }));
  b.put_many(iota(0, 4));
  ioc.poll();
  CHECK(second.empty());
  signal.emit(asio::cancellation_type::terminal);
  ioc.run();
  CHECK(second == iota(0, 3));
  CHECK(b.size() == 1);
}

TEST_CASE("a get that already has its items completes with them despite a later cancellation") {
  log_capture log;
  circular_buffer<int> b(quiet(100, log));
  asio::io_context ioc;
  asio::cancellation_signal signal;
  std::vector<int> got;
  boost::system::error_code result = error::server_error;
  b.get(3, 10s,
        asio::bind_cancellation_slot(signal.slot(), asio::bind_executor(ioc, [&](boost::system::error_code ec, std::vector<int> items) {
                                       result = ec;
                                       got = std::move(items);
                                     })));
  b.put_many(iota(0, 3));  // claims the waiter; its completion is posted, not yet run
  signal.emit(asio::cancellation_type::terminal);
  ioc.run();
  CHECK_FALSE(result);
  CHECK(got == iota(0, 3));
}

TEST_CASE("destroying the buffer completes its pending gets with error::cancelled") {
  asio::io_context ioc;
  boost::system::error_code result;
  {
    log_capture log;
    circular_buffer<int> b(quiet(10, log));
    b.get(5, 10s, asio::bind_executor(ioc, [&](boost::system::error_code ec, std::vector<int>) { result = ec; }));
    b.put(1);
  }
  ioc.run();
  CHECK(result == error::cancelled);
}

TEST_CASE("a get pending when its io_context is destroyed is given up without being called") {
  log_capture log;
  circular_buffer<int> b(quiet(10, log));
  bool called = false;
  {
    asio::io_context ioc;
    b.get(5, 10s, asio::bind_executor(ioc, [&](boost::system::error_code, std::vector<int>) { called = true; }));
    CHECK(b.stats().waiting == 1);
  }
  CHECK_FALSE(called);
  CHECK(b.stats().waiting == 0);
  b.put_many(iota(0, 5));
  CHECK(b.size() == 5);
}

// ---- get(): threads ----

TEST_CASE("four producer threads and an awaiting consumer lose and duplicate nothing but counted overflows",
          "[threads]") {
  constexpr int producers = 4;
  constexpr std::uint64_t per_producer = 40'000;
  log_capture log;
  circular_buffer<seq_item> b(quiet(20'000, log));
  asio::io_context ioc;
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      for (std::uint64_t s = 0; s < per_producer; ++s) b.put(seq_item{p, s});
      ++finished;
    });
  std::vector<std::vector<std::uint64_t>> seen(producers);
  run_async(ioc, [&]() -> asio::awaitable<void> {
    asio::steady_timer pause(co_await asio::this_coro::executor);
    for (int batch = 0;; ++batch) {
      auto items = co_await b.get(500, 5ms);
      for (const auto& it : items) seen[static_cast<std::size_t>(it.producer)].push_back(it.seq);
      if (items.empty() && finished == producers && b.empty()) break;
      if (batch % 64 == 63) {  // a slow moment, so that some items overflow
        pause.expires_after(1ms);
        co_await pause.async_wait(asio::use_awaitable);
      }
    }
  }());
  for (auto& t : threads) t.join();
  const auto stats = b.stats();
  INFO("overflows: " << stats.overflow_count);
  std::uint64_t received = 0;
  for (const auto& s : seen) {
    received += s.size();
    for (std::size_t i = 1; i < s.size(); ++i) REQUIRE(s[i - 1] < s[i]);  // in order, no duplicate
  }
  CHECK(stats.total_added == producers * per_producer);
  CHECK(received + stats.overflow_count == producers * per_producer);
}

TEST_CASE("gets raced against timers in a parallel group lose no item", "[threads]") {
  log_capture log;
  asio::io_context ioc;
  // The group's handlers have no executor: they complete on the buffer's.
  circular_buffer<seq_item> b(ioc.get_executor(), quiet(100'000, log));
  std::atomic<bool> stop{false};
  std::uint64_t produced = 0;
  std::thread producer([&] {
    std::minstd_rand rng(7);
    while (!stop) {
      const auto n = rng() % 20;
      for (std::uint64_t i = 0; i < n; ++i) b.put(seq_item{0, produced++});
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
    }
  });
  std::vector<std::uint64_t> seen;
  int cancelled = 0, timed_out = 0, completed = 0;
  run_async(ioc, [&]() -> asio::awaitable<void> {
    std::minstd_rand rng(11);
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (int i = 0; i < 3000; ++i) {
      timer.expires_after(std::chrono::microseconds(rng() % 300));
      const auto get_timeout = std::chrono::microseconds(rng() % 300);
      auto group = asio::experimental::make_parallel_group(b.get(40, get_timeout, asio::deferred),
                                                           timer.async_wait(asio::deferred));
      auto [order, ec, items, timer_ec] =
          co_await group.async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
      (void)order;
      (void)timer_ec;
      if (ec == error::cancelled) {
        ++cancelled;
        CHECK(items.empty());
      } else if (items.size() == 40) {
        ++completed;
      } else {
        ++timed_out;
      }
      for (const auto& it : items) seen.push_back(it.seq);
    }
  }());
  stop = true;
  producer.join();
  for (const auto& it : b.try_get(1'000'000)) seen.push_back(it.seq);
  INFO("cancelled " << cancelled << ", timed out " << timed_out << ", completed " << completed);
  REQUIRE(seen.size() == produced);
  for (std::size_t i = 0; i < seen.size(); ++i) REQUIRE(seen[i] == i);
  CHECK(b.stats().overflow_count == 0);
}

TEST_CASE("consumers on a multi-threaded pool and producers on threads hand every item over exactly once",
          "[threads]") {
  constexpr int consumers = 3;
  constexpr int producers = 2;
  constexpr std::uint64_t per_producer = 30'000;
  log_capture log;
  circular_buffer<seq_item> b(quiet(1'000'000, log));
  asio::thread_pool pool(2);
  std::atomic<int> finished{0};
  std::mutex seen_mutex;
  std::vector<std::vector<std::uint64_t>> seen(producers);
  std::atomic<int> consumers_done{0};
  for (int c = 0; c < consumers; ++c)
    asio::co_spawn(
        asio::make_strand(pool),
        [&, c]() -> asio::awaitable<void> {
          std::minstd_rand rng(static_cast<unsigned>(c));
          for (;;) {
            auto items = co_await b.get(1 + rng() % 300, std::chrono::microseconds(rng() % 2000));
            {
              std::lock_guard lk(seen_mutex);
              for (const auto& it : items) seen[static_cast<std::size_t>(it.producer)].push_back(it.seq);
            }
            if (items.empty() && finished == producers && b.empty()) break;
          }
          ++consumers_done;
        },
        asio::detached);
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      for (std::uint64_t s = 0; s < per_producer; ++s) {
        b.put(seq_item{p, s});
        if (s % 1000 == 0) std::this_thread::sleep_for(100us);
      }
      ++finished;
    });
  for (auto& t : threads) t.join();
  pool.join();
  CHECK(consumers_done == consumers);
  for (auto& s : seen) {
    std::sort(s.begin(), s.end());
    REQUIRE(s.size() == per_producer);
    for (std::size_t i = 0; i < s.size(); ++i) REQUIRE(s[i] == i);
  }
}
