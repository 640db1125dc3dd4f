// The state behind a redcoro::connection: socket, request queue, reader and writer.
// Everything here runs on `strand_`. The impl lives as long as an I/O operation or a
// handle refers to it, so destroying the connection with work in flight is safe.
#pragma once

#include <redcoro/config.hpp>
#include <redcoro/connection.hpp>
#include <redcoro/detail/exec_op.hpp>
#include <redcoro/detail/reply_builder.hpp>
#include <redcoro/resp3_parser.hpp>

#include "serial_executor.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace spdlog {
class logger;
}

namespace redcoro::detail {

class connection_impl final : public std::enable_shared_from_this<connection_impl>, public op_owner {
 public:
  using socket_type = boost::asio::generic::stream_protocol::socket;
  using clock = std::chrono::steady_clock;

  connection_impl(boost::asio::any_io_executor ex, config cfg);
  // Runs on `strand`, which several connections may share (a pool's connections do).
  connection_impl(serial_executor strand, config cfg);
  ~connection_impl();

  // What a pool needs to hear from its connections; called on the strand.
  class events {
   public:
    virtual void on_replies(connection_impl& c) = 0;
    virtual void on_timeout(connection_impl& c) = 0;
    virtual void on_closed(connection_impl& c, const boost::system::error_code& ec, const std::string& why) = 0;

   protected:
    ~events() = default;
  };
  void set_events(events* e) noexcept { events_ = e; }

  // On the strand: queue a request directly (pools route requests this way).
  void enqueue_on_strand(exec_op_base* op);
  bool ready() const noexcept { return state_ == state::ready; }
  std::size_t pending() const noexcept { return pending_; }
  clock::time_point last_activity() const noexcept { return last_activity_; }
  // Watch MULTI/WATCH/SUBSCRIBE and other commands that change the connection's state,
  // so a leased connection is only reused when clean.
  void track_state() noexcept { track_state_ = true; }
  bool is_clean() const noexcept;
  // Error replies received since the last call.
  std::uint64_t take_server_errors() noexcept { return std::exchange(server_errors_, 0); }

  // Entry points (any thread unless noted).
  void submit(exec_op_base* op);
  void cancel(std::uint64_t id);  // on the strand
  void close(boost::system::error_code ec, std::string why);
  boost::asio::awaitable<void> connect_flow();

  std::uint64_t next_request_id() noexcept override { return next_id_.fetch_add(1, std::memory_order_relaxed); }
  void cancel_request(std::uint64_t id) override;
  const boost::asio::any_io_executor& strand() const noexcept { return strand_.get(); }
  bool running_in_strand() const noexcept { return strand_.running_in_this_thread(); }
  // Makes is_open() false at once, before the posted close() runs.
  void mark_closing() noexcept { open_.store(false, std::memory_order_release); }
  const config& cfg() const noexcept { return cfg_; }
  bool is_open() const noexcept { return open_.load(std::memory_order_acquire); }
  connection_stats stats() const noexcept;

  std::function<void(reply&&)> push_handler;
  int protocol = 0;
  std::string server_version;

 private:
  enum class state { idle, connecting, ready, closed };
  struct counters {
    std::atomic<std::uint64_t> requests{0}, replies{0}, pushes{0}, writes{0}, reads{0},
        bytes_written{0}, bytes_read{0}, timeouts{0}, cancellations{0};
  };

  void enqueue(exec_op_base* op);
  void fail_op_later(exec_op_base* op, boost::system::error_code ec, std::string why);
  void finish(exec_op_base* op, boost::system::error_code ec, std::string why);

  // Writing
  void request_write();
  void start_write();
  void on_write(const boost::system::error_code& ec, std::size_t n);

  // Reading
  void start_read();
  void on_read(const boost::system::error_code& ec, std::size_t n);
  bool process_input();
  bool on_node(const resp3::node& n);
  void on_message_done();
  void pop_head();
  void complete_zero_reply_heads();
  void note_state(const request& req);
  void finish_completed();

  // Timeouts
  void arm_watchdog(clock::time_point when);
  void on_watchdog();
  void expire(exec_op_base* op, error e, std::string why);

  // Connecting
  template <class T>
  boost::asio::awaitable<T> execute_internal(const request& req);
  boost::asio::awaitable<void> open_socket();
  boost::asio::awaitable<void> handshake();
  void apply_socket_options();
  std::string describe(const boost::system::error_code& ec) const;
  socket_type& lowest_layer() noexcept;

  template <class Handler>
  void async_read_some(boost::asio::mutable_buffer b, Handler&& h);
  template <class Handler>
  void async_write(boost::asio::const_buffer b, Handler&& h);

  serial_executor strand_;
  config cfg_;
  std::shared_ptr<spdlog::logger> log_;
  socket_type socket_;
  std::unique_ptr<boost::asio::ssl::context> tls_context_;
  std::unique_ptr<boost::asio::ssl::stream<socket_type>> tls_;
  boost::asio::steady_timer connect_timer_;
  boost::asio::steady_timer watchdog_;
  clock::time_point watchdog_at_ = clock::time_point::max();

  state state_ = state::idle;
  boost::system::error_code closed_reason_;
  std::atomic<bool> open_{false};
  bool can_write_ = false;  // the socket is connected (and TLS established)
  bool connect_timed_out_ = false;
  std::atomic<std::uint64_t> next_id_{1};

  // The request queue: written requests first (oldest at head), then unwritten ones
  // from next_write_ on. last_written_ is the op before next_write_.
  exec_op_base* head_ = nullptr;
  exec_op_base* tail_ = nullptr;
  exec_op_base* next_write_ = nullptr;
  exec_op_base* last_written_ = nullptr;
  std::vector<exec_op_base*> completed_;  // replies complete; handlers not yet called

  std::string write_buffer_;
  bool writing_ = false;
  bool write_posted_ = false;
  bool completing_ = false;        // inside finish_completed(): writes wait until it ends
  bool write_after_completing_ = false;

  std::unique_ptr<char[]> read_buffer_;
  std::size_t read_capacity_ = 0, read_begin_ = 0, read_end_ = 0;
  resp3::parser parser_;
  reply_builder builder_;
  enum class target { none, op, push, discard } target_ = target::none;
  reply push_reply_;
  reply discard_reply_;

  counters counters_;
  events* events_ = nullptr;
  std::size_t pending_ = 0;  // requests in the queue
  std::uint64_t server_errors_ = 0;
  clock::time_point last_activity_ = clock::now();
  bool track_state_ = false, in_multi_ = false, watching_ = false, stateful_ = false;
  int defer_close_ = 0;  // > 0 while handlers run inside a walk of the queue
};

}  // namespace redcoro::detail
