// Pool settings: validation and URL options.
#include <redcoro/connection_pool.hpp>

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using redcoro::error;
using redcoro::pool_config;

namespace {

boost::system::error_code code_of_validate(const pool_config& pc) {
  try {
    pc.validate();
  } catch (const boost::system::system_error& e) {
    return e.code();
  }
  return {};
}

}  // namespace

TEST_CASE("the default pool settings are valid") { CHECK_NOTHROW(pool_config{}.validate()); }

TEST_CASE("a pool without shared connections is rejected") {
  pool_config pc;
  pc.shared_connections = 0;
  CHECK(code_of_validate(pc) == error::invalid_config);
}

TEST_CASE("max_connections below shared_connections is rejected") {
  pool_config pc;
  pc.shared_connections = 4;
  pc.max_connections = 2;
  CHECK(code_of_validate(pc) == error::invalid_config);
}

TEST_CASE("negative or zero times are rejected") {
  pool_config a;
  a.acquire_timeout = 0ms;
  CHECK(code_of_validate(a) == error::invalid_config);
  pool_config b;
  b.health_check_interval = -1ms;
  CHECK(code_of_validate(b) == error::invalid_config);
  pool_config c;
  c.backoff_base = -5ms;
  CHECK(code_of_validate(c) == error::invalid_config);
  pool_config d;
  d.connection.request_timeout = -1ms;
  CHECK(code_of_validate(d) == error::invalid_config);
  pool_config e;
  e.retry_attempts = -1;
  CHECK(code_of_validate(e) == error::invalid_config);
}

TEST_CASE("a backoff cap below the base is rejected") {
  pool_config pc;
  pc.backoff_base = 100ms;
  pc.backoff_cap = 50ms;
  CHECK(code_of_validate(pc) == error::invalid_config);
}

TEST_CASE("pool options come from the URL's query next to connection options") {
  const auto pc = pool_config::from_url(
      "redis://:pw@cache.example:6390/2?max_connections=16&shared_connections=3&acquire_timeout=250ms"
      "&health_check_interval=5s&retry_attempts=2&backoff_base=10ms&backoff_cap=2s&breaker_threshold=7"
      "&breaker_open_time=1m&keepalive_idle=20s&keepalive_interval=5s&keepalive_count=4&request_timeout=3s");
  CHECK(pc.connection.host == "cache.example");
  CHECK(pc.connection.port == 6390);
  CHECK(pc.connection.db == 2);
  CHECK(pc.connection.password == "pw");
  CHECK(pc.connection.request_timeout == 3s);
  CHECK(pc.max_connections == 16);
  CHECK(pc.shared_connections == 3);
  CHECK(pc.acquire_timeout == 250ms);
  CHECK(pc.health_check_interval == 5s);
  CHECK(pc.retry_attempts == 2);
  CHECK(pc.backoff_base == 10ms);
  CHECK(pc.backoff_cap == 2s);
  CHECK(pc.breaker.threshold == 7);
  CHECK(pc.breaker.open_time == 1min);
  CHECK(pc.connection.keepalive.idle == 20s);
  CHECK(pc.connection.keepalive.interval == 5s);
  CHECK(pc.connection.keepalive.count == 4);
}

TEST_CASE("a bad pool option in a URL names the option and hides the password") {
  try {
    pool_config::from_url("redis://:hunter2@h/0?max_connections=many");
    FAIL("expected an error");
  } catch (const boost::system::system_error& e) {
    CHECK(e.code() == error::invalid_url);
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Contains("max_connections") && !Catch::Contains("hunter2"));
  }
}

TEST_CASE("an unknown option in a pool URL is an error listing the known ones") {
  try {
    pool_config::from_url("redis://h/0?max_conections=4");
    FAIL("expected an error");
  } catch (const boost::system::system_error& e) {
    CHECK(e.code() == error::invalid_url);
    CHECK_THAT(std::string(e.what()), Catch::Contains("max_conections") && Catch::Contains("max_connections"));
  }
}
