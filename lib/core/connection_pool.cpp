#include "pool_impl.hpp"
#include "url_options.hpp"

#include <redcoro/logger.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace redcoro {

namespace asio = boost::asio;
using boost::system::error_code;

// ---------------------------------------------------------------------------------------
// pool_config

pool_config pool_config::from_url(std::string_view url) {
  pool_config pc;
  tcp_keepalive keepalive;  // applied after the connection part is parsed
  static const std::vector<std::string_view> keys = {
      "shared_connections", "max_connections",   "acquire_timeout", "health_check_interval",
      "retry_attempts",     "backoff_base",      "backoff_cap",     "breaker_threshold",
      "breaker_open_time",  "keepalive_idle",    "keepalive_interval", "keepalive_count"};
  auto on_option = [&pc, &keepalive](const detail::url_option_reader& r, std::string_view key, std::string_view value) {
    auto small_count = [&](std::uint64_t max) {
      const std::uint64_t n = r.count(key, value);
      if (n > max) r.fail("option " + std::string(key) + ": " + std::string(value) + " is too large");
      return n;
    };
    if (key == "shared_connections") pc.shared_connections = small_count(1024);
    else if (key == "max_connections") pc.max_connections = small_count(1024);
    else if (key == "acquire_timeout") pc.acquire_timeout = r.duration(key, value);
    else if (key == "health_check_interval") pc.health_check_interval = r.duration(key, value);
    else if (key == "retry_attempts") pc.retry_attempts = static_cast<int>(small_count(100));
    else if (key == "backoff_base") pc.backoff_base = r.duration(key, value);
    else if (key == "backoff_cap") pc.backoff_cap = r.duration(key, value);
    else if (key == "breaker_threshold") pc.breaker.threshold = static_cast<int>(small_count(1'000'000));
    else if (key == "breaker_open_time") pc.breaker.open_time = r.duration(key, value);
    else if (key == "keepalive_idle")
      keepalive.idle = std::chrono::duration_cast<std::chrono::seconds>(r.duration(key, value));
    else if (key == "keepalive_interval")
      keepalive.interval = std::chrono::duration_cast<std::chrono::seconds>(r.duration(key, value));
    else if (key == "keepalive_count") keepalive.count = static_cast<int>(small_count(1000));
  };
  pc.connection = detail::parse_url(url, {}, keys, on_option);
  pc.connection.keepalive = keepalive;
  return pc;
}

pool_config pool_config::from_env(const char* name) {
  const char* value = std::getenv(name);
  if (!value) return pool_config{};
  return from_url(value);
}

void pool_config::validate() const {
  auto invalid = [](const std::string& why) {
    throw boost::system::system_error(error::invalid_config, "connection pool: " + why);
  };
  connection.validate();
  if (shared_connections < 1) invalid("shared_connections must be at least 1");
  if (max_connections < shared_connections)
    invalid("max_connections (" + std::to_string(max_connections) + ") is below shared_connections (" +
            std::to_string(shared_connections) + ")");
  if (acquire_timeout.count() <= 0) invalid("acquire_timeout must be positive");
  if (health_check_interval.count() < 0) invalid("health_check_interval is negative");
  if (retry_attempts < 0) invalid("retry_attempts is negative");
  if (backoff_base.count() <= 0) invalid("backoff_base must be positive");
  if (backoff_cap < backoff_base) invalid("backoff_cap is below backoff_base");
  if (breaker.threshold < 1) invalid("breaker threshold must be at least 1");
  if (breaker.open_time.count() <= 0) invalid("breaker open time must be positive");
}

std::string_view to_string(health_status s) noexcept {
  switch (s) {
    case health_status::healthy: return "healthy";
    case health_status::degraded: return "degraded";
    case health_status::unhealthy: return "unhealthy";
  }
  return "unknown";
}

namespace detail {

namespace {

// Starts a request that the pool routes like connection_pool::execute does.
struct routed_initiation {
  explicit routed_initiation(std::shared_ptr<pool_impl> p) : pool(std::move(p)) {}
  std::shared_ptr<pool_impl> pool;

  template <class Handler>
  void operator()(Handler&& handler, const request* req) const {
    auto* op = exec_op<ignore_t, std::decay_t<Handler>>::create(std::move(handler), *req, pool_owner(*pool),
                                                                 pool_strand(*pool));
    op->router = &pool_router(*pool);
    pool_submit(pool, op);
  }
};

// Runs one request on `conn` (already on the strand) and returns its result.
template <class T>
asio::awaitable<T> run_on(std::shared_ptr<connection_impl> conn, const request& req) {
  exec_initiation<T> initiation(std::move(conn));
  T result = co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, T)>(
      initiation, asio::use_awaitable, &req);
  co_return result;
}

}  // namespace

pool_impl::pool_impl(asio::any_io_executor ex, pool_config cfg)
    : strand_(ex),
      cfg_((cfg.validate(), std::move(cfg))),
      log_(cfg_.connection.logger ? cfg_.connection.logger : default_logger()),
      breaker_(cfg_.breaker),
      rng_(std::random_device{}()),
      parked_timer_(strand_.get()),
      waiters_timer_(strand_.get()),
      health_timer_(strand_.get()),
      stopped_(strand_.get(), clock::time_point::max()) {
  slots_.resize(cfg_.shared_connections);
  for (auto& s : slots_) s.timer = std::make_unique<asio::steady_timer>(strand_.get());
}

pool_impl::~pool_impl() {
  for (exec_op_base* op : parked_) op->destroy();
}

void pool_impl::start() {
  strand_.dispatch([self = shared_from_this()] {
    for (std::size_t i = 0; i < self->slots_.size(); ++i) {
      ++self->tasks_;
      asio::co_spawn(self->strand_.get(), self->maintain(self, i), asio::detached);
    }
    if (self->cfg_.health_check_interval.count() > 0) {
      ++self->tasks_;
      asio::co_spawn(self->strand_.get(), self->health_loop(self), asio::detached);
    }
  });
}

pool_stats pool_impl::stats() const noexcept {
  pool_stats s;
  s.commands = commands_.get();
  s.errors = errors_.get();
  s.retries = retries_.get();
  s.timeouts = timeouts_.get();
  s.reconnects = reconnects_.get();
  s.connections_created = created_.get();
  return s;
}

std::shared_ptr<connection_impl> pool_impl::make_connection() {
  auto conn = std::make_shared<connection_impl>(strand_, cfg_.connection);
  conn->set_events(this);
  created_.add();
  return conn;
}

std::chrono::milliseconds pool_impl::backoff(int attempt) {
  // Exponential, capped, with "equal jitter": half the delay fixed, half random.
  auto delay = cfg_.backoff_base;
  for (int i = 0; i < attempt && delay < cfg_.backoff_cap; ++i) delay *= 2;
  delay = std::min(delay, cfg_.backoff_cap);
  const auto half = delay.count() / 2;
  std::uniform_int_distribution<std::int64_t> jitter(0, half);
  return std::chrono::milliseconds(delay.count() - half + jitter(rng_));
}

void pool_impl::task_done() {
  if (--tasks_ == 0) stopped_.cancel();
}

void pool_impl::note_failure(const std::string& why) {
  last_error_ = why;
  breaker_.record_failure();
  if (breaker_.current() == circuit_breaker::state::open) fail_parked(error::circuit_open, circuit_message());
}

std::string pool_impl::circuit_message() const {
  return "circuit breaker open after " + std::to_string(breaker_.consecutive_failures()) +
         " consecutive failures talking to " + cfg_.connection.address() + "; failing fast (last error: " +
         last_error_ + ")";
}

// ---------------------------------------------------------------------------------------
// Shared connections

asio::awaitable<void> pool_impl::maintain([[maybe_unused]] std::shared_ptr<pool_impl> self, std::size_t index) {
  int attempt = 0;
  bool connected_before = false;
  while (!closed_) {
    auto conn = make_connection();
    error_code failure;
    std::string why;
    try {
      co_await conn->connect_flow();
    } catch (const boost::system::system_error& e) {
      failure = e.code();
      why = e.what();
    }
    if (closed_) {
      conn->close(error::connection_closed, "connection pool closed");
      break;
    }
    auto& s = slots_[index];
    if (failure) {
      note_failure(why);
      const auto delay = backoff(attempt++);
      log_->warn("redcoro pool: {}; retrying in {} ms", why, delay.count());
      s.timer->expires_after(delay);
      co_await s.timer->async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (connected_before) {
      reconnects_.add();
      log_->info("redcoro pool: reconnected to {}", cfg_.connection.address());
    }
    connected_before = true;
    attempt = 0;
    server_version_ = conn->server_version;
    breaker_.record_success();
    s.conn = conn;
    flush_parked();
    // Until on_closed() wakes us.
    s.timer->expires_at(clock::time_point::max());
    co_await s.timer->async_wait(asio::as_tuple(asio::use_awaitable));
    if (s.conn == conn) s.conn.reset();
    if (conn->ready()) conn->close(error::connection_closed, "connection pool closed");
  }
  task_done();
}

void pool_impl::submit(exec_op_base* op) {
  if (strand_.running_in_this_thread())
    route(op);
  else
    strand_.post([self = shared_from_this(), op] { self->route(op); });
}

void pool_impl::route(exec_op_base* op) {
  if (closed_) return finish(op, error::pool_closed, "request failed: the connection pool is closed");
  if (!breaker_.allow()) return finish(op, error::circuit_open, circuit_message());
  const std::size_t n = slots_.size();
  for (std::size_t k = 0; k < n; ++k) {
    slot& s = slots_[next_slot_];
    if (++next_slot_ == n) next_slot_ = 0;
    if (s.conn && s.conn->ready()) {
      commands_.add();
      s.conn->enqueue_on_strand(op);
      return;
    }
  }
  park(op);
}

void pool_impl::finish(exec_op_base* op, error e, std::string why) {
  errors_.add();
  op->ec = e;
  op->error_detail = std::move(why);
  op->complete_and_destroy();
}

void pool_impl::park(exec_op_base* op) {
  if (op->deadline == clock::time_point::max()) {
    const auto timeout = op->req->timeout().value_or(cfg_.connection.request_timeout);
    if (timeout.count() > 0) op->deadline = clock::now() + timeout;
  }
  parked_.push_back(op);
  if (op->deadline != clock::time_point::max()) arm_parked_timer(op->deadline);
}

void pool_impl::flush_parked() {
  auto ops = std::move(parked_);
  parked_.clear();
  for (exec_op_base* op : ops) route(op);
}

void pool_impl::fail_parked(error e, const std::string& why) {
  auto ops = std::move(parked_);
  parked_.clear();
  for (exec_op_base* op : ops) finish(op, e, why);
}

void pool_impl::arm_parked_timer(clock::time_point when) {
  if (when >= parked_timer_at_) return;
  parked_timer_at_ = when;
  parked_timer_.expires_at(when);
  parked_timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (!ec) self->on_parked_timer();
  });
}

void pool_impl::on_parked_timer() {
  parked_timer_at_ = clock::time_point::max();
  const auto now = clock::now();
  auto next = clock::time_point::max();
  std::deque<exec_op_base*> keep;
  std::vector<exec_op_base*> expired;
  for (exec_op_base* op : parked_) {
    if (op->deadline <= now)
      expired.push_back(op);
    else {
      next = std::min(next, op->deadline);
      keep.push_back(op);
    }
  }
  parked_ = std::move(keep);
  for (exec_op_base* op : expired) {
    timeouts_.add();
    finish(op, error::request_timeout,
           "request timed out waiting for a connection to " + cfg_.connection.address() +
               (last_error_.empty() ? std::string() : " (last error: " + last_error_ + ")"));
  }
  if (next != clock::time_point::max()) arm_parked_timer(next);
}

std::uint64_t pool_impl::next_request_id() noexcept { return next_id_.fetch_add(1, std::memory_order_relaxed); }

void pool_impl::cancel_request(std::uint64_t id) {
  auto cancel = [this, id] {
    for (auto it = parked_.begin(); it != parked_.end(); ++it) {
      if ((*it)->id != id) continue;
      exec_op_base* op = *it;
      parked_.erase(it);
      finish(op, error::cancelled, "request cancelled before it was sent");
      return;
    }
    for (auto& s : slots_)
      if (s.conn) s.conn->cancel(id);
  };
  if (strand_.running_in_this_thread())
    cancel();
  else
    strand_.post([self = shared_from_this(), cancel] { cancel(); });
}

void pool_impl::reroute(exec_op_base* op, error_code ec, std::string why) {
  if (closed_) return finish(op, error::pool_closed, "request failed: the connection pool is closed");
  const bool never_sent = ec == error::connection_lost;
  const bool idempotent = op->req->is_idempotent();
  if (op->attempts < cfg_.retry_attempts && (never_sent || idempotent)) {
    op->reset_for_retry();
    retries_.add();
    route(op);
    return;
  }
  if (!never_sent && !idempotent)
    return finish(op, error::outcome_unknown,
                  why + " (the request was sent and is not idempotent, so it was not sent again: it may have run)");
  finish(op, never_sent ? error::connection_lost : error::outcome_unknown,
         why + " (gave up after " + std::to_string(op->attempts + 1) + " attempts)");
}

void pool_impl::on_replies(connection_impl& c) {
  breaker_.record_success();
  if (const auto n = c.take_server_errors()) errors_.add(n);
}

void pool_impl::on_timeout(connection_impl& c) {
  timeouts_.add();
  errors_.add();
  note_failure("request to " + c.cfg().address() + " timed out");
}

void pool_impl::on_closed(connection_impl& c, const error_code& ec, const std::string& why) {
  errors_.add(c.take_server_errors());
  if (ec != error::connection_closed && !closed_) note_failure(why);
  for (auto& s : slots_) {
    if (s.conn.get() == &c) {
      s.timer->cancel();  // wakes maintain(), which reconnects
      return;
    }
  }
  std::erase_if(idle_, [&](const auto& p) { return p.get() == &c; });
}

// ---------------------------------------------------------------------------------------
// Leases

void pool_impl::acquire(lease_handler handler) {
  strand_.dispatch([self = shared_from_this(), h = std::move(handler)]() mutable {
    auto fail = [&](error e, const std::string& why) {
      self->complete_waiter(std::move(h), make_exception(e, why), lease{});
    };
    if (self->closed_) return fail(error::pool_closed, "cannot lease a connection: the connection pool is closed");
    if (self->lease_capacity() == 0)
      return fail(error::acquire_timeout,
                  "cannot lease a connection: max_connections equals shared_connections, leaving none to lease");
    if (self->breaker_.current() == circuit_breaker::state::open)
      return fail(error::circuit_open, self->circuit_message());
    const auto deadline = clock::now() + self->cfg_.acquire_timeout;
    self->waiters_.push_back(waiter{std::move(h), deadline});
    self->arm_waiters_timer(deadline);
    self->serve_waiters();
  });
}

void pool_impl::serve_waiters() {
  while (!waiters_.empty()) {
    std::erase_if(idle_, [](const auto& c) { return !c->ready(); });
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      waiter w = std::move(waiters_.front());
      waiters_.pop_front();
      hand_out(std::move(w), std::move(conn));
      continue;
    }
    const std::size_t in_pool = leased_ + idle_.size() + lease_connecting_;
    if (in_pool < lease_capacity() && lease_connecting_ < waiters_.size()) {
      ++lease_connecting_;
      ++tasks_;
      asio::co_spawn(strand_.get(), connect_for_lease(shared_from_this()), asio::detached);
      continue;
    }
    break;
  }
}

asio::awaitable<void> pool_impl::connect_for_lease([[maybe_unused]] std::shared_ptr<pool_impl> self) {
  auto conn = make_connection();
  conn->track_state();
  std::string why;
  try {
    co_await conn->connect_flow();
  } catch (const boost::system::system_error& e) {
    why = e.what();
  }
  --lease_connecting_;
  if (closed_) {
    conn->close(error::connection_closed, "connection pool closed");
  } else if (!why.empty()) {
    note_failure(why);
    if (!waiters_.empty()) {
      // The first waiter hears why; the others keep waiting, within their own timeout.
      waiter w = std::move(waiters_.front());
      waiters_.pop_front();
      errors_.add();
      complete_waiter(std::move(w.handler), make_exception(error::not_connected, "cannot lease a connection: " + why),
                      lease{});
    }
  } else {
    breaker_.record_success();
    idle_.push_back(std::move(conn));
    serve_waiters();
  }
  task_done();
}

void pool_impl::hand_out(waiter w, std::shared_ptr<connection_impl> conn) {
  ++leased_;
  complete_waiter(std::move(w.handler), nullptr, lease(shared_from_this(), connection(std::move(conn), connection::borrowed)));
}

void pool_impl::complete_waiter(lease_handler h, std::exception_ptr ep, lease l) {
  strand_.post([h = std::move(h), ep, l = std::move(l)]() mutable {
    auto ex = asio::get_associated_executor(h);
    asio::dispatch(ex, asio::append(std::move(h), ep, std::move(l)));
  });
}

void pool_impl::release(std::shared_ptr<connection_impl> conn) {
  strand_.dispatch([self = shared_from_this(), conn = std::move(conn)]() mutable {
    --self->leased_;
    if (!self->closed_ && conn->is_clean()) {
      self->idle_.push_back(std::move(conn));
    } else if (conn->ready()) {
      conn->close(error::connection_closed,
                  self->closed_ ? "connection pool closed"
                                : "leased connection returned in a special state (subscribed, inside MULTI/WATCH, "
                                  "or with a request pending): closed instead of reused");
    }
    self->serve_waiters();
  });
}

void pool_impl::arm_waiters_timer(clock::time_point when) {
  if (when >= waiters_timer_at_) return;
  waiters_timer_at_ = when;
  waiters_timer_.expires_at(when);
  waiters_timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (!ec) self->on_waiters_timer();
  });
}

void pool_impl::on_waiters_timer() {
  waiters_timer_at_ = clock::time_point::max();
  const auto now = clock::now();
  auto next = clock::time_point::max();
  std::deque<waiter> keep;
  for (auto& w : waiters_) {
    if (w.deadline > now) {
      next = std::min(next, w.deadline);
      keep.push_back(std::move(w));
      continue;
    }
    errors_.add();
    const std::string why = "no connection could be leased within " + std::to_string(cfg_.acquire_timeout.count()) +
                            " ms (" + std::to_string(leased_) + " of " + std::to_string(lease_capacity()) +
                            " leasable connections in use)";
    complete_waiter(std::move(w.handler), make_exception(error::acquire_timeout, why), lease{});
  }
  waiters_ = std::move(keep);
  if (next != clock::time_point::max()) arm_waiters_timer(next);
}

// ---------------------------------------------------------------------------------------
// Health

asio::awaitable<void> pool_impl::health_loop(std::shared_ptr<pool_impl> self) {
  while (!closed_) {
    health_timer_.expires_after(cfg_.health_check_interval / 2);
    co_await health_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (closed_) break;
    const auto idle_since = clock::now() - cfg_.health_check_interval;
    std::vector<std::shared_ptr<connection_impl>> quiet;
    for (auto& s : slots_)
      if (s.conn && s.conn->ready() && s.conn->pending() == 0 && s.conn->last_activity() <= idle_since)
        quiet.push_back(s.conn);
    for (auto& c : idle_)
      if (c->ready() && c->last_activity() <= idle_since) quiet.push_back(c);
    for (auto& c : quiet) {
      ++tasks_;
      asio::co_spawn(strand_.get(), ping_idle(self, std::move(c)), asio::detached);
    }
  }
  task_done();
}

asio::awaitable<void> pool_impl::ping_idle([[maybe_unused]] std::shared_ptr<pool_impl> self,
                                           std::shared_ptr<connection_impl> conn) {
  request ping("PING");
  std::string why;
  try {
    co_await run_on<ignore_t>(conn, ping);
  } catch (const boost::system::system_error& e) {
    why = e.what();
  }
  if (!why.empty() && conn->ready() && !closed_) {
    log_->warn("redcoro pool: health check of {} failed: {}; replacing the connection", cfg_.connection.address(), why);
    conn->close(error::connection_lost, "health check PING failed: " + why);
  }
  task_done();
}

asio::awaitable<health_report> pool_impl::health_check() {
  health_report r;
  if (!closed_) {
    // Routed like any request: it waits for a connection while the pool is connecting,
    // within the request timeout, and fails fast while the circuit is open.
    request ping("PING");
    const auto start = clock::now();
    try {
      co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, ignore_t)>(
          routed_initiation(shared_from_this()), asio::use_awaitable, &ping);
      r.latency_ms = std::chrono::duration<double, std::milli>(clock::now() - start).count();
    } catch (const boost::system::system_error& e) {
      if (e.code() != error::circuit_open) last_error_ = std::string("health check PING failed: ") + e.what();
    }
  }
  std::size_t ready = 0;
  for (auto& s : slots_)
    if (s.conn && s.conn->ready()) ++ready;
  r.server_version = server_version_;
  r.pool.in_use = leased_;
  r.pool.idle = idle_.size();
  r.pool.size = ready + leased_ + idle_.size();
  r.pool.waiting = waiters_.size();
  r.pool.created = created_.get();
  r.pool.reconnects = reconnects_.get();
  r.circuit = breaker_.current();
  r.consecutive_failures = breaker_.consecutive_failures();
  r.last_error = last_error_;
  if (closed_ || !r.latency_ms || r.circuit == circuit_breaker::state::open)
    r.status = health_status::unhealthy;
  else if (ready < slots_.size() || r.circuit != circuit_breaker::state::closed || r.consecutive_failures > 0)
    r.status = health_status::degraded;
  else
    r.status = health_status::healthy;
  co_return r;
}

// ---------------------------------------------------------------------------------------
// Closing

asio::awaitable<void> pool_impl::close() {
  if (!closed_) {
    closed_ = true;
    fail_parked(error::pool_closed, "request failed: the connection pool is closed");
    auto waiters = std::move(waiters_);
    waiters_.clear();
    for (auto& w : waiters)
      complete_waiter(std::move(w.handler),
                      make_exception(error::pool_closed, "cannot lease a connection: the connection pool is closed"),
                      lease{});
    for (auto& s : slots_) {
      if (s.conn) s.conn->close(error::connection_closed, "connection pool closed");
      s.timer->cancel();
    }
    auto idle = std::move(idle_);
    idle_.clear();
    for (auto& c : idle) c->close(error::connection_closed, "connection pool closed");
    health_timer_.cancel();
    parked_timer_.cancel();
    waiters_timer_.cancel();
  }
  if (tasks_ > 0) co_await stopped_.async_wait(asio::as_tuple(asio::use_awaitable));
}

const asio::any_io_executor& pool_strand(pool_impl& p) noexcept { return p.strand(); }
void pool_submit(const std::shared_ptr<pool_impl>& p, exec_op_base* op) { p->submit(op); }
op_owner& pool_owner(pool_impl& p) noexcept { return p; }
op_router& pool_router(pool_impl& p) noexcept { return p; }

}  // namespace detail

// ---------------------------------------------------------------------------------------
// connection_pool and lease

connection_pool::connection_pool(executor_type ex, pool_config cfg)
    : impl_(std::make_shared<detail::pool_impl>(std::move(ex), std::move(cfg))) {
  impl_->start();
}

connection_pool::connection_pool(connection_pool&&) noexcept = default;

namespace {

// Closing in the background keeps the pool alive until it is done.
void close_detached(const std::shared_ptr<detail::pool_impl>& impl) {
  asio::co_spawn(impl->strand(), [impl]() -> asio::awaitable<void> { co_await impl->close(); }, asio::detached);
}

}  // namespace

connection_pool& connection_pool::operator=(connection_pool&& other) noexcept {
  if (this != &other) {
    if (impl_) close_detached(impl_);
    impl_ = std::move(other.impl_);
  }
  return *this;
}

connection_pool::~connection_pool() {
  if (impl_) close_detached(impl_);
}

connection_pool::executor_type connection_pool::get_executor() const noexcept { return impl_->strand(); }

const pool_config& connection_pool::get_config() const noexcept { return impl_->cfg(); }

pool_stats connection_pool::stats() const noexcept { return impl_->stats(); }

void connection_pool::start_acquire(const std::shared_ptr<detail::pool_impl>& impl,
                                    asio::any_completion_handler<void(std::exception_ptr, lease)> handler) {
  impl->acquire(std::move(handler));
}

void connection_pool::start_health_check(
    const std::shared_ptr<detail::pool_impl>& impl,
    asio::any_completion_handler<void(std::exception_ptr, health_report)> handler) {
  asio::co_spawn(impl->strand(), impl->health_check(), std::move(handler));
}

void connection_pool::start_close(const std::shared_ptr<detail::pool_impl>& impl,
                                  asio::any_completion_handler<void(std::exception_ptr)> handler) {
  asio::co_spawn(impl->strand(), [impl]() -> asio::awaitable<void> { co_await impl->close(); }, std::move(handler));
}

lease::lease(std::shared_ptr<detail::pool_impl> pool, connection conn)
    : pool_(std::move(pool)), conn_(std::move(conn)) {}

lease::lease(lease&&) noexcept = default;

lease& lease::operator=(lease&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = std::move(other.pool_);
    conn_ = std::move(other.conn_);
  }
  return *this;
}

lease::~lease() { release(); }

void lease::release() {
  if (!pool_ || !conn_) return;
  pool_->release(conn_->impl_);
  conn_.reset();
  pool_.reset();
}

}  // namespace redcoro
