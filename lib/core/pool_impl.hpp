// The state behind a redcoro::connection_pool. The pool and all its connections share one
// strand, so routing a request, rerouting it after a failure and replacing a connection
// never cross threads. Background coroutines (one per shared connection, one health
// loop) keep the pool alive until close() has stopped them.
#pragma once

#include "connection_impl.hpp"

#include <redcoro/circuit_breaker.hpp>
#include <redcoro/connection_pool.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace redcoro::detail {

class pool_impl final : public std::enable_shared_from_this<pool_impl>,
                        public op_owner,
                        public op_router,
                        public connection_impl::events {
 public:
  using clock = std::chrono::steady_clock;
  using lease_handler = boost::asio::any_completion_handler<void(std::exception_ptr, lease)>;

  pool_impl(boost::asio::any_io_executor ex, pool_config cfg);
  ~pool_impl();

  // Starts the background coroutines; called once, right after construction.
  void start();

  const boost::asio::any_io_executor& strand() const noexcept { return strand_.get(); }
  const pool_config& cfg() const noexcept { return cfg_; }
  pool_stats stats() const noexcept;

  // Requests (any thread).
  void submit(exec_op_base* op);
  std::uint64_t next_request_id() noexcept override;
  void cancel_request(std::uint64_t id) override;
  void reroute(exec_op_base* op, boost::system::error_code ec, std::string why) override;

  // From the pool's connections, on the strand.
  void on_replies(connection_impl& c) override;
  void on_timeout(connection_impl& c) override;
  void on_closed(connection_impl& c, const boost::system::error_code& ec, const std::string& why) override;

  // Leases (any thread).
  void acquire(lease_handler handler);
  void release(std::shared_ptr<connection_impl> conn);

  boost::asio::awaitable<health_report> health_check();
  boost::asio::awaitable<void> close();

 private:
  struct slot {
    std::shared_ptr<connection_impl> conn;
    std::unique_ptr<boost::asio::steady_timer> timer;  // backoff sleeps; wakes when conn closes
  };
  struct waiter {
    lease_handler handler;
    clock::time_point deadline;
  };
  struct counter {
    std::atomic<std::uint64_t> value{0};
    // Only the strand writes, so a plain load and store suffice.
    void add(std::uint64_t n = 1) noexcept { value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
    std::uint64_t get() const noexcept { return value.load(std::memory_order_relaxed); }
  };

  void route(exec_op_base* op);
  void park(exec_op_base* op);
  void flush_parked();
  void fail_parked(error e, const std::string& why);
  void arm_parked_timer(clock::time_point when);
  void on_parked_timer();
  void finish(exec_op_base* op, error e, std::string why);
  void note_failure(const std::string& why);
  std::string circuit_message() const;

  void serve_waiters();
  void arm_waiters_timer(clock::time_point when);
  void on_waiters_timer();
  void hand_out(waiter w, std::shared_ptr<connection_impl> conn);
  // Completes a lease waiter later, through its own executor, never inside the caller.
  void complete_waiter(lease_handler h, std::exception_ptr ep, lease l);
  std::size_t lease_capacity() const noexcept { return cfg_.max_connections - cfg_.shared_connections; }

  std::shared_ptr<connection_impl> make_connection();
  boost::asio::awaitable<void> maintain(std::shared_ptr<pool_impl> self, std::size_t index);
  boost::asio::awaitable<void> connect_for_lease(std::shared_ptr<pool_impl> self);
  boost::asio::awaitable<void> health_loop(std::shared_ptr<pool_impl> self);
  boost::asio::awaitable<void> ping_idle(std::shared_ptr<pool_impl> self, std::shared_ptr<connection_impl> conn);
  std::chrono::milliseconds backoff(int attempt);
  void task_done();

  serial_executor strand_;
  pool_config cfg_;
  std::shared_ptr<spdlog::logger> log_;
  circuit_breaker breaker_;
  std::minstd_rand rng_;

  std::vector<slot> slots_;
  std::size_t next_slot_ = 0;

  std::deque<exec_op_base*> parked_;  // waiting for a connection to become ready
  boost::asio::steady_timer parked_timer_;
  clock::time_point parked_timer_at_ = clock::time_point::max();

  std::deque<waiter> waiters_;  // waiting for a lease
  std::vector<std::shared_ptr<connection_impl>> idle_;
  std::size_t leased_ = 0;
  std::size_t lease_connecting_ = 0;
  boost::asio::steady_timer waiters_timer_;
  clock::time_point waiters_timer_at_ = clock::time_point::max();

  boost::asio::steady_timer health_timer_;
  boost::asio::steady_timer stopped_;  // cancelled when the last background task ends
  int tasks_ = 0;
  bool closed_ = false;

  std::string last_error_;
  std::string server_version_;
  std::atomic<std::uint64_t> next_id_{1};
  counter commands_, errors_, retries_, timeouts_, reconnects_, created_;
};

}  // namespace redcoro::detail
