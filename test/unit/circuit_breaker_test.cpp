// The circuit breaker's states, with time under the test's control.
#include <redcoro/circuit_breaker.hpp>
#include <redcoro/error.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using redcoro::circuit_breaker;
using state = circuit_breaker::state;

namespace {

struct fake_clock {
  circuit_breaker::clock::time_point now{std::chrono::hours(1)};
  auto source() {
    return [this] { return now; };
  }
};

}  // namespace

TEST_CASE("a new breaker is closed and lets calls through") {
  circuit_breaker b;
  CHECK(b.current() == state::closed);
  CHECK(b.allow());
}

TEST_CASE("the breaker opens after threshold consecutive failures") {
  fake_clock clock;
  circuit_breaker b({.threshold = 3, .open_time = 10s}, clock.source());
  b.record_failure();
  b.record_failure();
  CHECK(b.current() == state::closed);
  b.record_failure();
  CHECK(b.current() == state::open);
  CHECK_FALSE(b.allow());
}

TEST_CASE("a success resets the count of consecutive failures") {
  fake_clock clock;
  circuit_breaker b({.threshold = 3, .open_time = 10s}, clock.source());
  b.record_failure();
  b.record_failure();
  b.record_success();
  b.record_failure();
  b.record_failure();
  CHECK(b.current() == state::closed);
  CHECK(b.consecutive_failures() == 2);
}

TEST_CASE("an open breaker fails fast until its open time has passed") {
  fake_clock clock;
  circuit_breaker b({.threshold = 1, .open_time = 10s}, clock.source());
  b.record_failure();
  clock.now += 9s;
  CHECK_FALSE(b.allow());
  CHECK(b.current() == state::open);
  clock.now += 1s;
  CHECK(b.current() == state::half_open);
}

TEST_CASE("a half-open breaker lets exactly one trial through") {
  fake_clock clock;
  circuit_breaker b({.threshold = 1, .open_time = 10s}, clock.source());
  b.record_failure();
  clock.now += 10s;
  CHECK(b.allow());
  CHECK_FALSE(b.allow());
  CHECK_FALSE(b.allow());
}

TEST_CASE("a successful trial closes the breaker") {
  fake_clock clock;
  circuit_breaker b({.threshold = 1, .open_time = 10s}, clock.source());
  b.record_failure();
  clock.now += 10s;
  REQUIRE(b.allow());
  b.record_success();
  CHECK(b.current() == state::closed);
  CHECK(b.consecutive_failures() == 0);
  CHECK(b.allow());
  CHECK(b.allow());
}

TEST_CASE("a failed trial opens the breaker again for a full open time") {
  fake_clock clock;
  circuit_breaker b({.threshold = 1, .open_time = 10s}, clock.source());
  b.record_failure();
  clock.now += 10s;
  REQUIRE(b.allow());
  b.record_failure();
  CHECK(b.current() == state::open);
  clock.now += 9s;
  CHECK_FALSE(b.allow());
  clock.now += 1s;
  CHECK(b.allow());
}

TEST_CASE("invalid breaker settings are rejected") {
  CHECK_THROWS_AS(circuit_breaker({.threshold = 0, .open_time = 1s}), boost::system::system_error);
  CHECK_THROWS_AS(circuit_breaker({.threshold = 1, .open_time = 0s}), boost::system::system_error);
}

TEST_CASE("a half-open breaker grants one trial even to callers on several threads", "[threads]") {
  fake_clock clock;
  circuit_breaker b({.threshold = 1, .open_time = 10s}, clock.source());
  b.record_failure();
  clock.now += 10s;
  std::atomic<int> granted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i)
        if (b.allow()) ++granted;
    });
  for (auto& t : threads) t.join();
  CHECK(granted == 1);
}

TEST_CASE("failures recorded from several threads open the breaker exactly at the threshold", "[threads]") {
  circuit_breaker b({.threshold = 4000, .open_time = 10s});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 999; ++i) b.record_failure();
    });
  for (auto& t : threads) t.join();
  CHECK(b.current() == state::closed);
  b.record_failure();
  b.record_failure();
  b.record_failure();
  b.record_failure();
  CHECK(b.current() == state::open);
}
