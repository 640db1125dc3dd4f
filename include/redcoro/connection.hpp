// One connection to a Redis server, shared by any number of coroutines.
//
// Requests from all callers queue in order; one writer sends everything queued in as few
// writes as possible, and replies complete the requests in FIFO order (automatic
// pipelining). `execute` follows Asio's completion-token convention, returns an
// `awaitable` by default and may be called from any thread: the work runs on the
// connection's own strand. A connection connects once; after it fails or is closed, make
// a new one (connection_pool does this for you).
//
//   redcoro::connection conn{ioc.get_executor(), redcoro::config::from_env()};
//   co_await conn.connect();
//   auto n = co_await conn.execute<std::int64_t>(redcoro::request{"INCR", "counter"});
#pragma once

#include <redcoro/config.hpp>
#include <redcoro/detail/exec_op.hpp>
#include <redcoro/reply.hpp>
#include <redcoro/request.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>

namespace redcoro {

class lease;

struct connection_stats {
  std::uint64_t requests = 0;       // requests written
  std::uint64_t replies = 0;        // replies read (pushes excluded)
  std::uint64_t pushes = 0;         // RESP3 push messages
  std::uint64_t writes = 0;         // write operations (each may carry many requests)
  std::uint64_t reads = 0;          // read operations
  std::uint64_t bytes_written = 0;
  std::uint64_t bytes_read = 0;
  std::uint64_t timeouts = 0;       // requests that timed out
  std::uint64_t cancellations = 0;  // requests cancelled by their callers
};

namespace detail {

class connection_impl;
class pool_impl;

const boost::asio::any_io_executor& strand_of(connection_impl& impl) noexcept;
op_owner& owner_of(connection_impl& impl) noexcept;
void submit(const std::shared_ptr<connection_impl>& impl, exec_op_base* op);
void start_connect(const std::shared_ptr<connection_impl>& impl,
                   boost::asio::any_completion_handler<void(std::exception_ptr)> handler);

template <class T>
struct exec_initiation {
  // A constructor, not aggregate initialization: GCC 12 destroys aggregate temporaries
  // created inside a co_await operand twice.
  explicit exec_initiation(std::shared_ptr<connection_impl> i, bool p = false)
      : impl(std::move(i)), priority(p) {}

  std::shared_ptr<connection_impl> impl;
  bool priority;

  template <class Handler>
  void operator()(Handler&& handler, const request* req) const {
    using op_type = exec_op<T, std::decay_t<Handler>>;
    auto* op = op_type::create(std::move(handler), *req, owner_of(*impl), strand_of(*impl));
    op->priority = priority;
    submit(impl, op);
  }
};

}  // namespace detail

class connection {
 public:
  using executor_type = boost::asio::any_io_executor;

  // The connection runs on a strand of `ex`. Throws system_error(error::invalid_config).
  explicit connection(executor_type ex, config cfg = {});
  connection(connection&&) noexcept;
  connection& operator=(connection&&) noexcept;
  // Closes the connection: pending requests fail with error::connection_closed.
  ~connection();

  // The connection's strand.
  executor_type get_executor() const noexcept;
  const redcoro::config& get_config() const noexcept;

  // Resolves, connects (TCP, unix socket or TLS) and runs the handshake (HELLO 3 with
  // AUTH and SETNAME, falling back to AUTH for old servers, then SELECT), all within
  // config::connect_timeout. Requests issued before it completes wait for it.
  // Completion signature: void(std::exception_ptr).
  template <class CompletionToken = boost::asio::use_awaitable_t<>>
  auto connect(CompletionToken&& token = {}) {
    return boost::asio::async_initiate<CompletionToken, void(std::exception_ptr)>(
        [impl = impl_](auto handler) { detail::start_connect(impl, std::move(handler)); }, token);
  }

  // Sends `req` and delivers its replies as T: with one reply, T describes that reply
  // (see reply.hpp); with several, T is a std::tuple with one element per reply, or
  // `responses`. `req` must stay valid until the operation completes.
  // Completion signature: void(std::exception_ptr, T); T must be default-constructible.
  template <class T = reply, class CompletionToken = boost::asio::use_awaitable_t<>>
  auto execute(const request& req, CompletionToken&& token = {}) {
    return boost::asio::async_initiate<CompletionToken, void(std::exception_ptr, T)>(
        detail::exec_initiation<T>(impl_), token, &req);
  }

  // Fails every pending request with error::connection_closed and closes the socket.
  // Safe from any thread; idempotent.
  void close();

  // True once connected and the handshake is done, until the connection fails or closes.
  bool is_open() const noexcept;

  // Receives RESP3 push messages (pub/sub, client-side caching invalidations), on the
  // connection's strand. Without one, pushes are logged at debug level and dropped.
  // Set it before connect(); it is not synchronized with the running connection.
  void set_push_handler(std::function<void(reply&&)> handler);

  connection_stats stats() const noexcept;

  // After connect(): the protocol in use (3, or 2 after a fallback) and the server's version.
  int protocol() const noexcept;
  std::string server_version() const;

 private:
  friend class lease;
  friend class detail::pool_impl;
  struct borrowed_t {
    explicit borrowed_t() = default;
  };
  static constexpr borrowed_t borrowed{};
  // A handle that does not close the connection when destroyed (a pool's lease).
  connection(std::shared_ptr<detail::connection_impl> impl, borrowed_t) noexcept;

  std::shared_ptr<detail::connection_impl> impl_;
  bool owner_ = true;
};

}  // namespace redcoro
