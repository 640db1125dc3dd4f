// One request in flight on a connection: its place in the connection's queue, the
// replies received so far, and the caller's completion handler.
#pragma once

#include <redcoro/error.hpp>
#include <redcoro/reply.hpp>
#include <redcoro/request.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/recycling_allocator.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

namespace redcoro::detail {

enum class op_state : std::uint8_t {
  queued,     // waiting to be written
  written,    // sent; replies pending
  abandoned,  // sent, then timed out or cancelled: its replies are read and dropped
  dropped,    // timed out or cancelled before it was sent: it never will be
};

class exec_op_base;

// Takes over the requests of a connection that failed, to send them again elsewhere
// (the connection pool). Called on the connection's strand.
class op_router {
 public:
  virtual void reroute(exec_op_base* op, boost::system::error_code ec, std::string why) = 0;

 protected:
  ~op_router() = default;
};

class exec_op_base {
 public:
  explicit exec_op_base(const request& r)
      : req(&r), expected(r.expected_replies()), skip(r.skipped_replies()) {
    if (expected > 1) many_.resize(expected);
  }
  exec_op_base(const exec_op_base&) = delete;
  exec_op_base& operator=(const exec_op_base&) = delete;

 protected:
  virtual ~exec_op_base() = default;

 public:

  // Hands the result (or `ec`) to the caller, once, on the connection's strand; the op
  // stays alive because its queue slot still waits for the replies (timeouts, cancels).
  virtual void complete() = 0;
  // Completes the caller unless done already, and frees the op first, so the next request
  // the caller issues can reuse its memory.
  virtual void complete_and_destroy() = 0;
  // Frees the op without calling the caller's handler.
  virtual void destroy() noexcept = 0;

  bool completed() const noexcept { return completed_; }
  reply& slot(std::size_t i) noexcept { return expected == 1 ? single_ : many_[i]; }

  // Prepares a request that was not completed for sending again on another connection.
  void reset_for_retry() noexcept {
    next = nullptr;
    state = op_state::queued;
    received = 0;
    ec = {};
    error_detail.clear();
    ++attempts;
  }

  const request* req;  // the caller keeps it valid until completion
  exec_op_base* next = nullptr;
  std::uint64_t id = 0;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  op_state state = op_state::queued;
  bool priority = false;  // handshake commands, sent before the connection is ready
  std::size_t expected;   // replies the server will send
  std::size_t skip;       // leading replies checked for errors, then dropped
  std::size_t received = 0;
  op_router* router = nullptr;  // set for pooled requests: failures go there first
  int attempts = 0;             // times sent again after a connection failure
  boost::system::error_code ec;
  std::string error_detail;

 protected:
  template <class T>
  T take_result();

  bool completed_ = false;

 private:
  reply single_;
  std::vector<reply> many_;
};

template <class T>
struct is_std_tuple : std::false_type {};
template <class... Ts>
struct is_std_tuple<std::tuple<Ts...>> : std::true_type {};

template <class Tuple, std::size_t... I>
Tuple tuple_of_replies(exec_op_base& op, std::size_t first, std::index_sequence<I...>) {
  return Tuple(std::move(op.slot(first + I)).template as<std::tuple_element_t<I, Tuple>>()...);
}

template <class T>
T exec_op_base::take_result() {
  for (std::size_t i = 0; i < skip && i < expected; ++i) slot(i).throw_if_error();
  const std::size_t n = expected > skip ? expected - skip : 0;
  if constexpr (std::is_same_v<T, responses>) {
    responses out;
    out.reserve(n);
    for (std::size_t i = skip; i < expected; ++i) out.push_back(std::move(slot(i)));
    return out;
  } else {
    if (n == 1) {
      slot(skip).throw_if_error();
      return std::move(slot(skip)).template as<T>();
    }
    if constexpr (is_std_tuple<T>::value) {
      if (std::tuple_size_v<T> == n)
        return tuple_of_replies<T>(*this, skip, std::make_index_sequence<std::tuple_size_v<T>>{});
    } else if constexpr (std::is_same_v<T, ignore_t>) {
      for (std::size_t i = skip; i < expected; ++i) slot(i).throw_if_error();
      return ignore;
    }
    throw boost::system::system_error(
        error::size_mismatch,
        "the request has " + std::to_string(n) +
            " replies: receive them as a std::tuple of that size or as redcoro::responses");
  }
}

// What a request is queued with (a connection or a pool): it numbers the requests whose
// callers can cancel them, and cancels them; cancel_request may be called from any thread.
class op_owner {
 public:
  virtual std::uint64_t next_request_id() noexcept = 0;
  virtual void cancel_request(std::uint64_t id) = 0;

 protected:
  ~op_owner() = default;
};

struct cancel_handler {
  op_owner* owner;
  std::uint64_t id;
  void operator()(boost::asio::cancellation_type type) const {
    if (type != boost::asio::cancellation_type::none) owner->cancel_request(id);
  }
};

// The io_context behind `ex` when `ex` is a plain io_context executor (not a strand),
// whose handlers may be called directly from a thread running that context.
inline boost::asio::io_context* plain_context(const boost::asio::any_io_executor& ex) noexcept {
  using plain = boost::asio::io_context::basic_executor_type<std::allocator<void>, 0>;
  using tracked = boost::asio::io_context::basic_executor_type<std::allocator<void>, 4>;
  if (const auto* e = ex.target<plain>()) return &e->context();
  if (const auto* e = ex.target<tracked>()) return &e->context();
  return nullptr;
}

inline bool same_context(const boost::asio::any_io_executor& a, const boost::asio::any_io_executor& b) noexcept {
  return &boost::asio::query(a, boost::asio::execution::context) ==
         &boost::asio::query(b, boost::asio::execution::context);
}

template <class T, class Handler>
class exec_op final : public exec_op_base {
  using handler_executor = boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>;
  using handler_allocator =
      boost::asio::associated_allocator_t<Handler, boost::asio::recycling_allocator<void>>;
  using allocator = typename std::allocator_traits<handler_allocator>::template rebind_alloc<exec_op>;

 public:
  // Allocates the op with the handler's associated allocator (Asio's thread-local
  // recycling allocator by default).
  static exec_op* create(Handler&& h, const request& r, op_owner& owner,
                         const boost::asio::any_io_executor& strand) {
    allocator alloc(boost::asio::get_associated_allocator(h, boost::asio::recycling_allocator<void>()));
    exec_op* p = std::allocator_traits<allocator>::allocate(alloc, 1);
    try {
      return new (p) exec_op(std::move(h), r, owner, strand, alloc);
    } catch (...) {
      std::allocator_traits<allocator>::deallocate(alloc, p, 1);
      throw;
    }
  }

  void complete() override { finish(false); }
  void complete_and_destroy() override { finish(true); }

  void destroy() noexcept override {
    allocator alloc(alloc_);
    this->~exec_op();
    std::allocator_traits<allocator>::deallocate(alloc, this, 1);
  }

 private:
  // `strand` is the connection's; it outlives the op and is the handler's executor when
  // the handler has none of its own.
  exec_op(Handler&& h, const request& r, op_owner& owner, const boost::asio::any_io_executor& strand,
          const allocator& alloc)
      : exec_op_base(r), handler_(std::move(h)), strand_(&strand), alloc_(alloc) {
    // The connection keeps its own io_context busy while requests are pending; a handler
    // bound to another context needs work tracked there.
    const handler_executor ex = boost::asio::get_associated_executor(handler_, strand);
    if constexpr (std::is_same_v<handler_executor, boost::asio::any_io_executor>) {
      if (!same_context(ex, strand)) work_.emplace(ex);
      inline_context_ = plain_context(ex);
    } else {
      work_.emplace(ex);
    }
    auto slot = boost::asio::get_associated_cancellation_slot(handler_);
    if (slot.is_connected()) {
      id = owner.next_request_id();
      slot.template emplace<cancel_handler>(cancel_handler{&owner, id});
    }
  }

  void finish(bool destroy_first) {
    if (completed_) {
      if (destroy_first) destroy();
      return;
    }
    completed_ = true;
    std::exception_ptr ep;
    T value{};
    if (ec) {
      ep = make_exception(ec, std::move(error_detail));
    } else {
      try {
        value = take_result<T>();
      } catch (...) {
        ep = std::current_exception();
      }
    }
    auto slot = boost::asio::get_associated_cancellation_slot(handler_);
    if (slot.is_connected()) slot.clear();
    Handler handler(std::move(handler_));
    auto work = std::move(work_);
    boost::asio::io_context* const inline_context = inline_context_;
    const boost::asio::any_io_executor* const strand = strand_;
    if (destroy_first) destroy();
    // On a plain io_context executor whose thread this is, calling the handler is exactly
    // what dispatch() would do, without its type-erased executor copies.
    if (inline_context && inline_context->get_executor().running_in_this_thread()) {
      std::move(handler)(ep, std::move(value));
      return;
    }
    const handler_executor ex = boost::asio::get_associated_executor(handler, *strand);
    boost::asio::dispatch(ex, boost::asio::append(std::move(handler), ep, std::move(value)));
  }

  Handler handler_;
  const boost::asio::any_io_executor* strand_;
  boost::asio::io_context* inline_context_ = nullptr;
  allocator alloc_;
  std::optional<boost::asio::executor_work_guard<handler_executor>> work_;
};

}  // namespace redcoro::detail
