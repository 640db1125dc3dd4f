// A health-checked pool of connections to one Redis server, shared by every data structure.
//
// Ordinary commands go over `shared_connections` multiplexed connections (automatic
// pipelining, spread round-robin). Blocking commands, WATCH/MULTI transactions and
// subscriptions take an exclusive `lease` on a dedicated connection instead. Connections
// that fail or stop answering health-check PINGs are replaced, with exponential backoff and
// jitter. A request whose connection failed is sent again only when that cannot duplicate a
// write: if it was never sent, or if it is idempotent; otherwise it fails with
// error::outcome_unknown. A circuit breaker fails requests fast while the server keeps
// failing. Every operation is bounded by a timeout.
//
//   redcoro::connection_pool pool{ioc.get_executor(), redcoro::pool_config::from_env()};
//   auto n = co_await pool.execute<std::int64_t>(redcoro::request{"INCR", "hits"});
//   {
//     auto lease = co_await pool.acquire();
//     auto item = co_await lease->execute<std::optional<std::string>>(redcoro::request{"BLPOP", "q", 5});
//   }
//   co_await pool.close();
#pragma once

#include <redcoro/circuit_breaker.hpp>
#include <redcoro/config.hpp>
#include <redcoro/connection.hpp>
#include <redcoro/request.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace redcoro {

struct pool_config {
  config connection;  // address, credentials, TLS, connect and request timeouts

  std::size_t shared_connections = 1;  // multiplexed connections for ordinary commands
  std::size_t max_connections = 8;     // shared plus leased connections, at most

  std::chrono::milliseconds acquire_timeout{5'000};          // waiting for a lease
  std::chrono::milliseconds health_check_interval{15'000};   // PING idle connections; 0 = off

  int retry_attempts = 3;                      // resends after connection failures
  std::chrono::milliseconds backoff_base{50};  // reconnect delay doubles from here...
  std::chrono::milliseconds backoff_cap{5'000};  // ...up to here, with jitter

  circuit_breaker::options breaker;

  // A connection URL (see config) whose query may also hold: shared_connections,
  // max_connections, acquire_timeout, health_check_interval, retry_attempts, backoff_base,
  // backoff_cap, breaker_threshold, breaker_open_time, keepalive_idle, keepalive_interval,
  // keepalive_count. Throws system_error(error::invalid_url).
  static pool_config from_url(std::string_view url);
  static pool_config from_env(const char* name = "REDIS_URL");

  // Throws system_error(error::invalid_config) naming the first invalid field.
  void validate() const;
};

struct pool_stats {
  std::uint64_t commands = 0;     // requests routed to a connection
  std::uint64_t errors = 0;       // requests that failed, server error replies included
  std::uint64_t retries = 0;      // requests sent again after a connection failure
  std::uint64_t timeouts = 0;     // requests that timed out
  std::uint64_t reconnects = 0;   // connections replaced after a failure
  std::uint64_t connections_created = 0;
};

enum class health_status { healthy, degraded, unhealthy };
std::string_view to_string(health_status s) noexcept;

struct health_report {
  health_status status = health_status::unhealthy;
  std::optional<double> latency_ms;  // PING round trip; empty when it failed
  std::string server_version;
  struct pool_figures {
    std::size_t size = 0;     // open connections, shared and leased
    std::size_t in_use = 0;   // leased out now
    std::size_t idle = 0;     // leasable connections waiting for a user
    std::size_t waiting = 0;  // callers waiting for a lease
    std::uint64_t created = 0;
    std::uint64_t reconnects = 0;
  } pool;
  circuit_breaker::state circuit = circuit_breaker::state::closed;
  int consecutive_failures = 0;
  std::string last_error;
};

namespace detail {
class pool_impl;

const boost::asio::any_io_executor& pool_strand(pool_impl& p) noexcept;
void pool_submit(const std::shared_ptr<pool_impl>& p, exec_op_base* op);
op_owner& pool_owner(pool_impl& p) noexcept;
op_router& pool_router(pool_impl& p) noexcept;
}  // namespace detail

class lease;

class connection_pool {
 public:
  using executor_type = boost::asio::any_io_executor;

  // Starts connecting in the background. Throws system_error(error::invalid_config).
  connection_pool(executor_type ex, pool_config cfg);
  connection_pool(connection_pool&&) noexcept;
  connection_pool& operator=(connection_pool&&) noexcept;
  // Starts closing; prefer `co_await close()`, which waits until everything has stopped.
  ~connection_pool();

  executor_type get_executor() const noexcept;
  const pool_config& get_config() const noexcept;

  // Like connection::execute, over the pool's shared connections, with safe retries.
  // Completion signature: void(std::exception_ptr, T).
  template <class T = reply, class CompletionToken = boost::asio::use_awaitable_t<>>
  auto execute(const request& req, CompletionToken&& token = {}) {
    return boost::asio::async_initiate<CompletionToken, void(std::exception_ptr, T)>(
        initiation<T>(impl_), token, &req);
  }

  // An exclusive connection, FIFO among waiters, within acquire_timeout.
  // Completion signature: void(std::exception_ptr, lease).
  template <class CompletionToken = boost::asio::use_awaitable_t<>>
  auto acquire(CompletionToken&& token = {}) {
    return boost::asio::async_initiate<CompletionToken, void(std::exception_ptr, lease)>(
        [impl = impl_](auto handler) { start_acquire(impl, std::move(handler)); }, token);
  }

  // PINGs the server and reports the pool's state. Completion: void(std::exception_ptr, health_report).
  template <class CompletionToken = boost::asio::use_awaitable_t<>>
  auto health_check(CompletionToken&& token = {}) {
    return boost::asio::async_initiate<CompletionToken, void(std::exception_ptr, health_report)>(
        [impl = impl_](auto handler) { start_health_check(impl, std::move(handler)); }, token);
  }

  // Closes every connection and fails whatever waits with error::pool_closed; completes
  // when the pool's background work has stopped. Completion: void(std::exception_ptr).
  template <class CompletionToken = boost::asio::use_awaitable_t<>>
  auto close(CompletionToken&& token = {}) {
    return boost::asio::async_initiate<CompletionToken, void(std::exception_ptr)>(
        [impl = impl_](auto handler) { start_close(impl, std::move(handler)); }, token);
  }

  pool_stats stats() const noexcept;

 private:
  template <class T>
  struct initiation {
    explicit initiation(std::shared_ptr<detail::pool_impl> p) : pool(std::move(p)) {}
    std::shared_ptr<detail::pool_impl> pool;

    template <class Handler>
    void operator()(Handler&& handler, const request* req) const {
      using op_type = detail::exec_op<T, std::decay_t<Handler>>;
      auto* op = op_type::create(std::move(handler), *req, detail::pool_owner(*pool), detail::pool_strand(*pool));
      op->router = &detail::pool_router(*pool);
      detail::pool_submit(pool, op);
    }
  };

  static void start_acquire(const std::shared_ptr<detail::pool_impl>& impl,
                            boost::asio::any_completion_handler<void(std::exception_ptr, lease)> handler);
  static void start_health_check(const std::shared_ptr<detail::pool_impl>& impl,
                                 boost::asio::any_completion_handler<void(std::exception_ptr, health_report)> handler);
  static void start_close(const std::shared_ptr<detail::pool_impl>& impl,
                          boost::asio::any_completion_handler<void(std::exception_ptr)> handler);

  std::shared_ptr<detail::pool_impl> impl_;
};

// An exclusive connection from a pool, given back when the lease is destroyed. A connection
// left in a special state (subscribed, inside MULTI or WATCH, a request still pending) is
// closed instead of being reused.
class lease {
 public:
  lease() = default;
  lease(lease&&) noexcept;
  lease& operator=(lease&&) noexcept;
  ~lease();

  connection& operator*() noexcept { return *conn_; }
  connection* operator->() noexcept { return &*conn_; }
  explicit operator bool() const noexcept { return conn_.has_value(); }

  // Gives the connection back now.
  void release();

 private:
  friend class detail::pool_impl;
  lease(std::shared_ptr<detail::pool_impl> pool, connection conn);

  std::shared_ptr<detail::pool_impl> pool_;
  std::optional<connection> conn_;
};

}  // namespace redcoro
