#include "connection_impl.hpp"

#include <redcoro/logger.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <spdlog/spdlog.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

namespace redcoro::detail {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr std::size_t initial_read_capacity = 16 * 1024;
constexpr std::size_t min_read_space = 4 * 1024;
constexpr std::size_t max_write_batch = 4 * 1024 * 1024;
constexpr std::size_t max_idle_buffer = 1024 * 1024;
constexpr std::size_t flush_every = 64;  // completions between early flushes of a long batch

bool is_ip_address(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string milliseconds_text(std::chrono::milliseconds ms) {
  return std::to_string(ms.count()) + " ms";
}

}  // namespace

connection_impl::connection_impl(asio::any_io_executor ex, config cfg)
    : connection_impl(serial_executor(ex), std::move(cfg)) {}

connection_impl::connection_impl(serial_executor strand, config cfg)
    : strand_(std::move(strand)),
      cfg_(std::move(cfg)),
      log_(cfg_.logger ? cfg_.logger : default_logger()),
      socket_(strand_.get()),
      connect_timer_(strand_.get()),
      watchdog_(strand_.get()),
      parser_(cfg_.limits) {
  cfg_.validate();
  read_capacity_ = initial_read_capacity;
  read_buffer_ = std::make_unique<char[]>(read_capacity_);
  completed_.reserve(64);
}

connection_impl::~connection_impl() {
  // Only reached when no handler refers to us: the io_context is gone or stopped for
  // good, so the callers' handlers are destroyed with their ops, not invoked.
  for (exec_op_base* op = head_; op;) {
    exec_op_base* next = op->next;
    op->destroy();
    op = next;
  }
  for (exec_op_base* op : completed_) op->destroy();
}

connection_stats connection_impl::stats() const noexcept {
  connection_stats s;
  s.requests = counters_.requests.load(std::memory_order_relaxed);
  s.replies = counters_.replies.load(std::memory_order_relaxed);
  s.pushes = counters_.pushes.load(std::memory_order_relaxed);
  s.writes = counters_.writes.load(std::memory_order_relaxed);
  s.reads = counters_.reads.load(std::memory_order_relaxed);
  s.bytes_written = counters_.bytes_written.load(std::memory_order_relaxed);
  s.bytes_read = counters_.bytes_read.load(std::memory_order_relaxed);
  s.timeouts = counters_.timeouts.load(std::memory_order_relaxed);
  s.cancellations = counters_.cancellations.load(std::memory_order_relaxed);
  return s;
}

// ---------------------------------------------------------------------------------------
// Requests

void connection_impl::submit(exec_op_base* op) {
  if (strand_.running_in_this_thread())
    enqueue(op);
  else
    strand_.post([self = shared_from_this(), op] { self->enqueue(op); });
}

void connection_impl::enqueue(exec_op_base* op) {
  if (state_ == state::closed) {
    fail_op_later(op, closed_reason_ == error::connection_closed ? error::connection_closed : error::not_connected,
                  "request not sent: the connection to " + cfg_.address() + " is closed");
    return;
  }
  if (op->req->commands() == 0) {
    fail_op_later(op, {}, {});
    return;
  }
  if (op->req->largest_argument() > cfg_.max_argument_size) {
    fail_op_later(op, error::value_too_large,
                  "request not sent: an argument of " + std::to_string(op->req->largest_argument()) +
                      " bytes exceeds config::max_argument_size (" + std::to_string(cfg_.max_argument_size) +
                      " bytes)");
    return;
  }
  if (op->deadline == clock::time_point::max()) {
    const auto timeout = op->req->timeout().value_or(cfg_.request_timeout);
    if (timeout.count() > 0) op->deadline = clock::now() + timeout;
  }
  if (op->deadline != clock::time_point::max()) arm_watchdog(op->deadline);
  ++pending_;
  if (op->priority) {
    // Handshake commands go before anything the callers queued meanwhile.
    op->next = next_write_;
    if (last_written_)
      last_written_->next = op;
    else
      head_ = op;
    if (!next_write_) tail_ = op;
  } else {
    op->next = nullptr;
    if (tail_)
      tail_->next = op;
    else
      head_ = op;
    tail_ = op;
    if (next_write_) {
      request_write();
      return;
    }
  }
  next_write_ = op;
  request_write();
}

void connection_impl::fail_op_later(exec_op_base* op, error_code ec, std::string why) {
  strand_.post([self = shared_from_this(), op, ec, why = std::move(why)]() mutable {
    self->finish(op, ec, std::move(why));
  });
}

void connection_impl::finish(exec_op_base* op, error_code ec, std::string why) {
  if (!op->completed()) {
    op->ec = ec;
    op->error_detail = std::move(why);
  }
  op->complete_and_destroy();
}

void connection_impl::cancel(std::uint64_t id) {
  for (exec_op_base* op = head_; op; op = op->next) {
    if (op->id != id) continue;
    if (op->completed()) return;
    counters_.cancellations.fetch_add(1, std::memory_order_relaxed);
    expire(op, error::cancelled,
           op->state == op_state::queued
               ? "request cancelled before it was sent"
               : "request cancelled after it was sent: it may have run; its reply is discarded");
    return;
  }
}

void connection_impl::expire(exec_op_base* op, error e, std::string why) {
  if (op->completed()) return;
  op->state = op->state == op_state::queued ? op_state::dropped : op_state::abandoned;
  op->ec = e;
  op->error_detail = std::move(why);
  op->complete();
}

// ---------------------------------------------------------------------------------------
// Writing: everything queued goes out in one write.

void connection_impl::request_write() {
  if (writing_ || !next_write_ || !can_write_) return;
  if (completing_) {
    write_after_completing_ = true;
    return;
  }
  if (write_posted_) return;
  write_posted_ = true;
  strand_.post([self = shared_from_this()] {
    self->write_posted_ = false;
    self->start_write();
  });
}

void connection_impl::start_write() {
  if (writing_ || !can_write_ || state_ == state::closed) return;
  write_buffer_.clear();
  exec_op_base* prev = last_written_;
  exec_op_base* op = next_write_;
  std::uint64_t requests = 0;
  while (op) {
    if (op->state == op_state::dropped) {
      exec_op_base* next = op->next;
      if (prev)
        prev->next = next;
      else
        head_ = next;
      if (tail_ == op) tail_ = prev;
      --pending_;
      op->destroy();
      op = next;
      continue;
    }
    if (state_ != state::ready && !op->priority) break;
    if (!write_buffer_.empty() && write_buffer_.size() + op->req->payload().size() > max_write_batch)
      break;
    write_buffer_.append(op->req->payload());
    op->state = op_state::written;
    if (track_state_ && !op->priority) note_state(*op->req);
    ++requests;
    prev = op;
    op = op->next;
  }
  next_write_ = op;
  last_written_ = prev;
  if (write_buffer_.empty()) return;

  writing_ = true;
  counters_.requests.fetch_add(requests, std::memory_order_relaxed);
  counters_.writes.fetch_add(1, std::memory_order_relaxed);
  async_write(asio::buffer(write_buffer_),
              [self = shared_from_this()](const error_code& ec, std::size_t n) { self->on_write(ec, n); });
}

void connection_impl::on_write(const error_code& ec, std::size_t n) {
  writing_ = false;
  if (state_ == state::closed) return;
  if (ec) {
    close(ec, "write to " + cfg_.address() + " failed: " + describe(ec));
    return;
  }
  counters_.bytes_written.fetch_add(n, std::memory_order_relaxed);
  if (write_buffer_.capacity() > max_idle_buffer) std::string().swap(write_buffer_);
  complete_zero_reply_heads();
  if (next_write_) start_write();
  finish_completed();
}

// ---------------------------------------------------------------------------------------
// Reading: parse every reply in the buffer, then complete the requests in order.

void connection_impl::start_read() {
  if (state_ == state::closed) return;
  const std::size_t have = read_end_ - read_begin_;
  if (have == 0) {
    read_begin_ = read_end_ = 0;
    if (read_capacity_ > max_idle_buffer) {
      read_capacity_ = initial_read_capacity;
      read_buffer_ = std::make_unique<char[]>(read_capacity_);
    }
  }
  const std::size_t needed = std::max(parser_.bytes_needed(), have + min_read_space);
  if (read_capacity_ - read_begin_ < needed || read_capacity_ - read_end_ < min_read_space) {
    std::size_t capacity = read_capacity_;
    while (capacity < needed) capacity *= 2;
    if (capacity != read_capacity_) {
      auto bigger = std::make_unique<char[]>(capacity);
      std::memcpy(bigger.get(), read_buffer_.get() + read_begin_, have);
      read_buffer_ = std::move(bigger);
      read_capacity_ = capacity;
    } else {
      std::memmove(read_buffer_.get(), read_buffer_.get() + read_begin_, have);
    }
    read_begin_ = 0;
    read_end_ = have;
  }
  async_read_some(asio::buffer(read_buffer_.get() + read_end_, read_capacity_ - read_end_),
                  [self = shared_from_this()](const error_code& ec, std::size_t n) { self->on_read(ec, n); });
}

void connection_impl::on_read(const error_code& ec, std::size_t n) {
  if (state_ == state::closed) return;
  if (ec) {
    close(ec, "connection to " + cfg_.address() + " lost: " + describe(ec));
    return;
  }
  read_end_ += n;
  last_activity_ = clock::now();
  counters_.reads.fetch_add(1, std::memory_order_relaxed);
  counters_.bytes_read.fetch_add(n, std::memory_order_relaxed);
  if (!process_input()) return;
  // Handshake replies (even a refused AUTH) do not prove the server healthy.
  if (events_ && state_ == state::ready) events_->on_replies(*this);
  // Read again before running handlers: a handler that throws then loses nothing, as the
  // requests it leaves in completed_ are finished after the next read.
  start_read();
  finish_completed();
}

bool connection_impl::process_input() {
  std::uint64_t replies = 0;
  while (read_begin_ < read_end_) {
    std::size_t consumed = 0;
    error_code ec;
    auto node = parser_.next(std::string_view(read_buffer_.get() + read_begin_, read_end_ - read_begin_),
                             consumed, ec);
    if (ec) {
      close(ec, ec.message() + " (from " + cfg_.address() + ")");
      return false;
    }
    if (!node) break;
    read_begin_ += consumed;
    if (!on_node(*node)) return false;
    if (parser_.done()) {
      if (target_ != target::push) ++replies;
      on_message_done();
      if (state_ == state::closed) return false;
    }
  }
  counters_.replies.fetch_add(replies, std::memory_order_relaxed);
  return true;
}

bool connection_impl::on_node(const resp3::node& n) {
  if (target_ == target::none) {
    if (n.in_attribute) return true;
    if (n.data_type == resp3::type::push) {
      target_ = target::push;
      builder_.start(push_reply_);
    } else {
      complete_zero_reply_heads();
      if (!head_ || head_ == next_write_) {
        close(error::unexpected_reply,
              "protocol error from " + cfg_.address() + ": a reply arrived while no request was waiting for one");
        return false;
      }
      if (head_->state == op_state::abandoned) {
        target_ = target::discard;
        builder_.start(discard_reply_);
      } else {
        target_ = target::op;
        builder_.start(head_->slot(head_->received));
      }
    }
  }
  builder_.add(n);
  return true;
}

void connection_impl::on_message_done() {
  const target t = target_;
  target_ = target::none;
  if (t == target::push) {
    counters_.pushes.fetch_add(1, std::memory_order_relaxed);
    if (push_handler)
      push_handler(std::move(push_reply_));
    else
      log_->debug("redcoro: push message from {} dropped (no push handler)", cfg_.address());
    return;
  }
  exec_op_base* op = head_;
  if (t == target::op && op->slot(op->received).is_error()) ++server_errors_;
  if (++op->received < op->expected) return;
  pop_head();
  if (op->state == op_state::abandoned)
    op->destroy();
  else
    completed_.push_back(op);
}

void connection_impl::pop_head() {
  --pending_;
  exec_op_base* op = head_;
  head_ = op->next;
  if (!head_) tail_ = nullptr;
  if (last_written_ == op) last_written_ = nullptr;
  op->next = nullptr;
}

void connection_impl::complete_zero_reply_heads() {
  while (head_ && head_ != next_write_ && head_->received == head_->expected) {
    exec_op_base* op = head_;
    pop_head();
    if (op->state == op_state::abandoned)
      op->destroy();
    else
      completed_.push_back(op);
  }
}

void connection_impl::finish_completed() {
  if (completed_.empty() || completing_) return;
  completing_ = true;
  std::size_t i = 0;
  struct cleanup {
    connection_impl& self;
    std::size_t& done;
    ~cleanup() {
      self.completed_.erase(self.completed_.begin(), self.completed_.begin() + static_cast<std::ptrdiff_t>(done));
      self.completing_ = false;
      if (self.write_after_completing_) {
        self.write_after_completing_ = false;
        self.start_write();
      }
    }
  } on_exit{*this, i};
  std::size_t since_flush = 0;
  while (i < completed_.size()) {
    completed_[i++]->complete_and_destroy();
    // With many replies to hand out, send the requests issued so far now, so the server
    // works on them while we go on here.
    if (++since_flush == flush_every && write_after_completing_ && !writing_) {
      since_flush = 0;
      write_after_completing_ = false;
      start_write();
    }
  }
}

// ---------------------------------------------------------------------------------------
// Timeouts: one timer, set for the earliest deadline, re-armed only when it fires.

void connection_impl::arm_watchdog(clock::time_point when) {
  if (when >= watchdog_at_ || state_ == state::closed) return;
  watchdog_at_ = when;
  watchdog_.expires_at(when);
  watchdog_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (!ec) self->on_watchdog();
  });
}

void connection_impl::on_watchdog() {
  watchdog_at_ = clock::time_point::max();
  if (state_ == state::closed) return;
  const auto now = clock::now();
  auto next = clock::time_point::max();
  std::vector<exec_op_base*> expired;
  for (exec_op_base* op = head_; op; op = op->next) {
    if (op->completed()) continue;
    if (op->deadline <= now)
      expired.push_back(op);
    else
      next = std::min(next, op->deadline);
  }
  if (next != clock::time_point::max()) arm_watchdog(next);
  // Handlers run below may close the connection; that close waits until we are done, so
  // none of these ops is freed under us.
  ++defer_close_;
  for (exec_op_base* op : expired) {
    if (op->completed()) continue;  // a previous handler cancelled it
    counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
    if (events_) events_->on_timeout(*this);
    expire(op, error::request_timeout,
           op->state == op_state::queued
               ? "request to " + cfg_.address() + " timed out before it was sent"
               : "request to " + cfg_.address() + " timed out waiting for its reply: it may have run");
  }
  --defer_close_;
}

// ---------------------------------------------------------------------------------------
// Closing

void connection_impl::close(error_code ec, std::string why) {
  if (state_ == state::closed) return;
  if (defer_close_ > 0) {
    open_.store(false, std::memory_order_release);
    strand_.post([self = shared_from_this(), ec, why = std::move(why)]() mutable { self->close(ec, std::move(why)); });
    return;
  }
  const bool by_user = ec == error::connection_closed;
  const bool was_ready = state_ == state::ready;
  state_ = state::closed;
  closed_reason_ = ec;
  open_.store(false, std::memory_order_release);
  can_write_ = false;
  error_code ignored;
  lowest_layer().shutdown(socket_type::shutdown_both, ignored);
  lowest_layer().close(ignored);
  connect_timer_.cancel();
  watchdog_.cancel();

  exec_op_base* op = head_;
  head_ = tail_ = next_write_ = last_written_ = nullptr;
  pending_ = 0;
  std::size_t failed = 0;
  while (op) {
    exec_op_base* next = op->next;
    if (!op->completed()) {
      ++failed;
      if (op->router)
        op->router->reroute(op, op->state == op_state::queued ? error::connection_lost : error::outcome_unknown,
                            why);
      else if (by_user)
        finish(op, error::connection_closed, "request failed: " + why);
      else if (op->state == op_state::queued)
        finish(op, error::connection_lost, why + " (the request was not sent)");
      else
        finish(op, error::outcome_unknown, why + " (the request was sent: it may have run)");
    } else {
      op->destroy();
    }
    op = next;
  }
  if (by_user || !was_ready)
    log_->debug("redcoro: {}; {} pending requests failed", why, failed);
  else
    log_->warn("redcoro: {}; {} pending requests failed", why, failed);
  if (!completed_.empty())
    strand_.post([self = shared_from_this()] { self->finish_completed(); });
  if (events_) events_->on_closed(*this, ec, why);
}

void connection_impl::enqueue_on_strand(exec_op_base* op) { enqueue(op); }

void connection_impl::note_state(const request& req) {
  // Reads the command names back from the payload: only leased connections pay for this.
  std::string_view p = req.payload();
  std::size_t pos = 0;
  auto read_number = [&](char tag, std::size_t& n) {
    if (pos >= p.size() || p[pos] != tag) return false;
    const auto end = p.find('\r', pos);
    if (end == std::string_view::npos) return false;
    n = 0;
    for (std::size_t i = pos + 1; i < end; ++i) n = n * 10 + static_cast<std::size_t>(p[i] - '0');
    pos = end + 2;
    return true;
  };
  while (pos < p.size()) {
    std::size_t argc = 0, len = 0;
    if (!read_number('*', argc) || argc == 0 || !read_number('$', len)) return;
    auto upper = [](std::string_view v) {
      std::string out(v);
      for (char& c : out)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
      return out;
    };
    const std::string name = upper(p.substr(pos, len));
    pos += len + 2;
    std::string sub;
    for (std::size_t i = 1; i < argc; ++i) {
      if (!read_number('$', len)) return;
      if (i == 1) sub = upper(p.substr(pos, len));
      pos += len + 2;
    }
    if (name == "MULTI") in_multi_ = true;
    else if (name == "EXEC" || name == "DISCARD") in_multi_ = watching_ = false;
    else if (name == "WATCH") watching_ = true;
    else if (name == "UNWATCH") watching_ = false;
    else if (name.ends_with("SUBSCRIBE") || name == "MONITOR" || name == "SELECT" || name == "HELLO" ||
             name == "AUTH" || name == "RESET" || name == "READONLY" || name == "READWRITE" ||
             (name == "CLIENT" && (sub == "TRACKING" || sub == "REPLY" || sub == "SETNAME" || sub == "CACHING" ||
                                   sub == "NO-EVICT" || sub == "NO-TOUCH" || sub == "SETINFO")))
      stateful_ = true;
  }
}

bool connection_impl::is_clean() const noexcept {
  return state_ == state::ready && pending_ == 0 && !in_multi_ && !watching_ && !stateful_;
}

connection_impl::socket_type& connection_impl::lowest_layer() noexcept {
  return tls_ ? tls_->next_layer() : socket_;
}

std::string connection_impl::describe(const error_code& ec) const {
  if (ec == asio::error::eof) return "the server closed the connection";
  if (ec == asio::ssl::error::stream_truncated) return "the server closed the TLS stream";
  return ec.message();
}

template <class Handler>
void connection_impl::async_read_some(asio::mutable_buffer b, Handler&& h) {
  if (tls_)
    tls_->async_read_some(b, std::forward<Handler>(h));
  else
    socket_.async_read_some(b, std::forward<Handler>(h));
}

template <class Handler>
void connection_impl::async_write(asio::const_buffer b, Handler&& h) {
  if (tls_)
    asio::async_write(*tls_, b, std::forward<Handler>(h));
  else
    asio::async_write(socket_, b, std::forward<Handler>(h));
}

// ---------------------------------------------------------------------------------------
// Connecting

template <class T>
asio::awaitable<T> connection_impl::execute_internal(const request& req) {
  exec_initiation<T> initiation(shared_from_this(), true);
  T result = co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, T)>(
      initiation, asio::use_awaitable, &req);
  co_return result;
}

asio::awaitable<void> connection_impl::connect_flow() {
  if (state_ != state::idle)
    throw boost::system::system_error(error::not_connected,
                                      "connect() may be called once per connection; make a new one");
  state_ = state::connecting;
  connect_timer_.expires_after(cfg_.connect_timeout);
  connect_timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (ec || self->state_ != state::connecting) return;
    self->connect_timed_out_ = true;
    self->close(error::connect_timeout, "connect to " + self->cfg_.address() + " timed out after " +
                                            milliseconds_text(self->cfg_.connect_timeout));
  });

  try {
    co_await open_socket();
    can_write_ = true;
    start_read();
    co_await handshake();
  } catch (const boost::system::system_error& e) {
    if (connect_timed_out_)
      throw boost::system::system_error(error::connect_timeout,
                                        "connect to " + cfg_.address() + " timed out after " +
                                            milliseconds_text(cfg_.connect_timeout));
    close(e.code(), e.what());
    throw;
  }
  if (state_ != state::connecting)  // closed by the user meanwhile
    throw boost::system::system_error(error::connection_closed,
                                      "connection to " + cfg_.address() + " closed while connecting");
  state_ = state::ready;
  open_.store(true, std::memory_order_release);
  connect_timer_.cancel();
  log_->debug("redcoro: connected to {} (RESP{}, server {})", cfg_.address(), protocol,
              server_version.empty() ? "?" : server_version);
  request_write();
}

asio::awaitable<void> connection_impl::open_socket() {
  error_code ec;
  if (!cfg_.unix_socket.empty()) {
    const asio::local::stream_protocol::endpoint ep(cfg_.unix_socket);
    std::tie(ec) = co_await socket_.async_connect(socket_type::endpoint_type(ep),
                                                  asio::as_tuple(asio::use_awaitable));
    if (ec)
      throw boost::system::system_error(error::not_connected,
                                        "connect to " + cfg_.address() + " failed: " + ec.message());
  } else {
    asio::ip::tcp::resolver resolver(strand_.get());
    auto [rec, results] = co_await resolver.async_resolve(cfg_.host, std::to_string(cfg_.port),
                                                          asio::as_tuple(asio::use_awaitable));
    if (rec)
      throw boost::system::system_error(error::not_connected,
                                        "cannot resolve " + cfg_.host + ": " + rec.message());
    ec = asio::error::host_not_found;
    for (const auto& entry : results) {
      error_code ignored;
      socket_.close(ignored);
      std::tie(ec) = co_await socket_.async_connect(socket_type::endpoint_type(entry.endpoint()),
                                                    asio::as_tuple(asio::use_awaitable));
      if (!ec || state_ == state::closed) break;
    }
    if (ec)
      throw boost::system::system_error(error::not_connected,
                                        "connect to " + cfg_.address() + " failed: " + ec.message());
    apply_socket_options();
  }

  if (!cfg_.tls.enabled) co_return;
  namespace ssl = asio::ssl;
  tls_context_ = std::make_unique<ssl::context>(ssl::context::tls_client);
  auto& ctx = *tls_context_;
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  auto load = [&](auto&& fn, const char* what, const std::string& path) {
    error_code lec;
    fn(lec);
    if (lec)
      throw boost::system::system_error(error::tls_handshake_failed,
                                        std::string("TLS: cannot load ") + what + " '" + path + "': " + lec.message());
  };
  if (cfg_.tls.verify_peer) {
    if (!cfg_.tls.ca_file.empty())
      load([&](error_code& e) { ctx.load_verify_file(cfg_.tls.ca_file, e); }, "CA file", cfg_.tls.ca_file);
    if (!cfg_.tls.ca_dir.empty())
      load([&](error_code& e) { ctx.add_verify_path(cfg_.tls.ca_dir, e); }, "CA directory", cfg_.tls.ca_dir);
    if (cfg_.tls.ca_file.empty() && cfg_.tls.ca_dir.empty())
      load([&](error_code& e) { ctx.set_default_verify_paths(e); }, "system CA paths", "default");
  }
  if (!cfg_.tls.cert_file.empty()) {
    load([&](error_code& e) { ctx.use_certificate_chain_file(cfg_.tls.cert_file, e); }, "certificate",
         cfg_.tls.cert_file);
    load([&](error_code& e) { ctx.use_private_key_file(cfg_.tls.key_file, ssl::context::pem, e); },
         "private key", cfg_.tls.key_file);
  }
  tls_ = std::make_unique<ssl::stream<socket_type>>(std::move(socket_), ctx);
  const std::string name = cfg_.tls.server_name.empty() ? cfg_.host : cfg_.tls.server_name;
  if (!cfg_.unix_socket.empty() || is_ip_address(name)) {
    // No SNI for addresses.
  } else {
    SSL_set_tlsext_host_name(tls_->native_handle(), name.c_str());
  }
  if (cfg_.tls.verify_peer) {
    tls_->set_verify_mode(ssl::verify_peer);
    if (cfg_.unix_socket.empty() || !cfg_.tls.server_name.empty())
      tls_->set_verify_callback(ssl::host_name_verification(name));
  } else {
    tls_->set_verify_mode(ssl::verify_none);
  }
  std::tie(ec) = co_await tls_->async_handshake(ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
  if (ec)
    throw boost::system::system_error(error::tls_handshake_failed,
                                      "TLS handshake with " + cfg_.address() + " failed: " + describe(ec));
}

void connection_impl::apply_socket_options() {
  error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  if (!cfg_.keepalive.enabled) return;
  socket_.set_option(asio::socket_base::keep_alive(true), ignored);
  const int fd = socket_.native_handle();
  const int idle = static_cast<int>(cfg_.keepalive.idle.count());
  const int interval = static_cast<int>(cfg_.keepalive.interval.count());
  const int count = cfg_.keepalive.count;
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

namespace {

bool unknown_command(std::string_view msg) {
  return msg.starts_with("ERR unknown command") || msg.starts_with("NOPROTO") ||
         msg.starts_with("ERR Unknown command");
}

[[noreturn]] void throw_handshake_error(const reply& r, std::string_view step) {
  const std::string msg(r.str());
  error code = server_error_code(msg);
  if (code == error::no_auth || code == error::auth_failed) code = error::auth_failed;
  if (step == "SELECT") code = error::invalid_database;
  throw boost::system::system_error(code, std::string(step) + " failed: " + msg);
}

}  // namespace

asio::awaitable<void> connection_impl::handshake() {
  bool resp2 = cfg_.protocol == 2;
  const std::string db = std::to_string(cfg_.db);
  if (!resp2) {
    request req;
    std::vector<std::string_view> args{"3"};
    if (!cfg_.password.empty()) {
      args.insert(args.end(), {"AUTH", cfg_.username.empty() ? std::string_view("default") : cfg_.username,
                               cfg_.password});
    }
    if (!cfg_.client_name.empty()) args.insert(args.end(), {"SETNAME", cfg_.client_name});
    req.push("HELLO", args);
    if (cfg_.db != 0) req.push("SELECT", db);
    req.set_timeout(std::chrono::milliseconds(0));
    responses rs = co_await execute_internal<responses>(req);
    const reply& hello = rs.at(0);
    if (hello.is_error()) {
      if (!unknown_command(hello.str())) throw_handshake_error(hello, "HELLO");
      resp2 = true;
    } else {
      protocol = 3;
      if (const reply* v = hello.find("version")) server_version = std::string(v->str());
      if (cfg_.db != 0 && rs.at(1).is_error()) throw_handshake_error(rs.at(1), "SELECT");
    }
  }
  if (resp2) {
    protocol = 2;
    request req;
    std::vector<std::string_view> steps;
    if (!cfg_.password.empty()) {
      if (cfg_.username.empty())
        req.push("AUTH", cfg_.password);
      else
        req.push("AUTH", cfg_.username, cfg_.password);
      steps.push_back("AUTH");
    }
    if (!cfg_.client_name.empty()) {
      req.push("CLIENT", "SETNAME", cfg_.client_name);
      steps.push_back("CLIENT SETNAME");
    }
    if (cfg_.db != 0) {
      req.push("SELECT", db);
      steps.push_back("SELECT");
    }
    if (req.empty()) co_return;
    req.set_timeout(std::chrono::milliseconds(0));
    responses rs = co_await execute_internal<responses>(req);
    for (std::size_t i = 0; i < rs.size(); ++i)
      if (rs[i].is_error()) throw_handshake_error(rs[i], steps[i]);
  }
}

// ---------------------------------------------------------------------------------------
// Glue for the header

const asio::any_io_executor& strand_of(connection_impl& impl) noexcept { return impl.strand(); }

op_owner& owner_of(connection_impl& impl) noexcept { return impl; }

void submit(const std::shared_ptr<connection_impl>& impl, exec_op_base* op) { impl->submit(op); }

void connection_impl::cancel_request(std::uint64_t id) {
  if (running_in_strand())
    cancel(id);
  else
    strand_.post([self = shared_from_this(), id] { self->cancel(id); });
}

void start_connect(const std::shared_ptr<connection_impl>& impl,
                   asio::any_completion_handler<void(std::exception_ptr)> handler) {
  asio::co_spawn(impl->strand(), impl->connect_flow(), std::move(handler));
}

}  // namespace redcoro::detail

namespace redcoro {

connection::connection(executor_type ex, config cfg)
    : impl_(std::make_shared<detail::connection_impl>(std::move(ex), std::move(cfg))) {}

connection::connection(std::shared_ptr<detail::connection_impl> impl, borrowed_t) noexcept
    : impl_(std::move(impl)), owner_(false) {}

connection::connection(connection&& other) noexcept : impl_(std::move(other.impl_)), owner_(other.owner_) {}

connection& connection::operator=(connection&& other) noexcept {
  if (this != &other) {
    if (owner_) close();
    impl_ = std::move(other.impl_);
    owner_ = other.owner_;
  }
  return *this;
}

connection::~connection() {
  if (owner_) close();
}

connection::executor_type connection::get_executor() const noexcept { return impl_->strand(); }

const config& connection::get_config() const noexcept { return impl_->cfg(); }

void connection::close() {
  if (!impl_) return;
  impl_->mark_closing();
  boost::asio::post(impl_->strand(), [impl = impl_] {
    impl->close(error::connection_closed, "connection to " + impl->cfg().address() + " closed by the user");
  });
}

bool connection::is_open() const noexcept { return impl_ && impl_->is_open(); }

void connection::set_push_handler(std::function<void(reply&&)> handler) {
  impl_->push_handler = std::move(handler);
}

connection_stats connection::stats() const noexcept { return impl_->stats(); }

int connection::protocol() const noexcept { return impl_->protocol; }

std::string connection::server_version() const { return impl_->server_version; }

}  // namespace redcoro
