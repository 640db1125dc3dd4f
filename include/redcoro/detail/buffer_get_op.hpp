// A consumer waiting in circular_buffer::get(): its place in the buffer's FIFO of waiters,
// the items handed to it, its timer, and the caller's completion handler.
//
// Hand-off rules (the buffer's lock guards `queued`, `arming` and the list links):
// - Exactly one party *claims* a waiter, under the buffer's lock: a producer whose put()
//   satisfies it, the timer when it expires, a cancellation, the buffer's destructor, or
//   the context's shutdown. The claimer fills `items` and `ec`, then sets `claimed`.
// - The completion handler is only ever called from the timer's handler, which Asio runs
//   exactly once on the op's executor (the handler's; the buffer's when the handler's is
//   the system executor, and then the handler is dispatched). A claimer never touches the
//   timer: it posts a task that cancels it to that executor, which makes the timer's
//   handler run now. While the initiating call is still arming the timer (`arming`), the
//   claimer posts nothing and the initiator cancels the timer itself when it is done.
// - Every party that may still use the op holds a reference: the initiator until it has
//   armed the timer, the timer's handler, and each posted cancel task. The last one frees
//   the op, with the handler's associated allocator.
#pragma once

#include <redcoro/error.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/recycling_allocator.hpp>
#include <boost/asio/system_executor.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace redcoro::detail {

template <class T>
class buffer_waiter;

// What a waiter calls back into (the buffer); each call takes the buffer's lock.
template <class T>
class waiter_queue {
 public:
  virtual void expire(buffer_waiter<T>* w) = 0;   // the timer fired: claim with what is there
  virtual void cancel(buffer_waiter<T>* w) = 0;   // a cancellation slot fired
  virtual void abandon(buffer_waiter<T>* w) = 0;  // the executor's context shut down

 protected:
  ~waiter_queue() = default;
};

template <class T>
class buffer_waiter {
 public:
  buffer_waiter(waiter_queue<T>& q, std::size_t n, std::size_t capacity)
      : owner(&q), want(n), need(std::min(n, capacity)) {
    items.reserve(need);
  }
  buffer_waiter(const buffer_waiter&) = delete;
  buffer_waiter& operator=(const buffer_waiter&) = delete;

  // Posts a task to the waiter's executor that cancels its timer; the caller has added
  // the reference that the task holds.
  virtual void post_timer_cancel() = 0;

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy();
  }
  bool is_claimed() const noexcept { return claimed_.load(std::memory_order_acquire); }
  void set_claimed() noexcept { claimed_.store(true, std::memory_order_release); }

  buffer_waiter* prev = nullptr;
  buffer_waiter* next = nullptr;  // the FIFO while queued, then the list of timers to cancel
  waiter_queue<T>* owner;
  std::size_t want;  // takes at most this many items
  std::size_t need;  // completes as soon as this many are there
  std::vector<T> items;
  boost::system::error_code ec;
  bool queued = false;
  bool arming = false;

 protected:
  virtual ~buffer_waiter() = default;
  virtual void destroy() noexcept = 0;

 private:
  std::atomic<int> refs_{1};
  std::atomic<bool> claimed_{false};
};

template <class Executor>
struct is_system_executor : std::false_type {};
template <class Blocking, class Relationship, class Allocator>
struct is_system_executor<boost::asio::basic_system_executor<Blocking, Relationship, Allocator>> : std::true_type {};

template <class T, class Handler>
class buffer_get_op final : public buffer_waiter<T> {
  using handler_executor = boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>;
  // The op runs (timer, completion) on the handler's executor, so that completing it takes
  // no extra hop. A handler on the system executor (use_future, or one inside a
  // parallel_group launched with deferred) would run the op on the system thread pool
  // instead; then it runs on the buffer's executor, as an I/O object's op would, and the
  // handler is dispatched from there.
  static constexpr bool on_handler_executor = !is_system_executor<handler_executor>::value;
  using executor_type = std::conditional_t<on_handler_executor, handler_executor, boost::asio::any_io_executor>;
  using timer_type = boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                                       boost::asio::wait_traits<std::chrono::steady_clock>,
                                                       executor_type>;
  using handler_allocator =
      boost::asio::associated_allocator_t<Handler, boost::asio::recycling_allocator<void>>;
  using allocator = typename std::allocator_traits<handler_allocator>::template rebind_alloc<buffer_get_op>;

 public:
  // `fallback` is the executor for a handler without one of its own.
  static buffer_get_op* create(Handler&& h, waiter_queue<T>& q, std::size_t n, std::size_t capacity,
                               const boost::asio::any_io_executor& fallback) {
    allocator alloc(boost::asio::get_associated_allocator(h, boost::asio::recycling_allocator<void>()));
    buffer_get_op* p = std::allocator_traits<allocator>::allocate(alloc, 1);
    try {
      return new (p) buffer_get_op(std::move(h), q, n, capacity, fallback, alloc);
    } catch (...) {
      std::allocator_traits<allocator>::deallocate(alloc, p, 1);
      throw;
    }
  }

  // Completes a waiter that was never queued, as if by post; frees it first.
  void complete_now() {
    executor_type ex = ex_;
    Handler handler(std::move(handler_));
    std::vector<T> items = std::move(this->items);
    const auto ec = this->ec;
    this->release();
    boost::asio::post(ex, boost::asio::append(std::move(handler), ec, std::move(items)));
  }

  // Called by the initiator once the waiter is queued: connects the cancellation slot and
  // arms the timer. The initiator still holds its own reference.
  void arm(std::chrono::steady_clock::duration timeout) {
    auto slot = boost::asio::get_associated_cancellation_slot(handler_);
    if (slot.is_connected()) {
      slot.template emplace<slot_handler>(this);
      slot_connected_ = true;
    }
    const auto now = std::chrono::steady_clock::now();
    const auto expiry = timeout >= std::chrono::steady_clock::time_point::max() - now
                            ? std::chrono::steady_clock::time_point::max()
                            : now + timeout;
    timer_.expires_at(expiry);
    this->add_ref();
    timer_.async_wait(timer_handler(this));
  }

  // The initiator's way to stop the timer of a waiter claimed while it was arming.
  void cancel_timer() { timer_.cancel(); }

  void post_timer_cancel() override { boost::asio::post(ex_, cancel_task(this)); }

 private:
  buffer_get_op(Handler&& h, waiter_queue<T>& q, std::size_t n, std::size_t capacity,
                const boost::asio::any_io_executor& fallback, const allocator& alloc)
      : buffer_waiter<T>(q, n, capacity),
        handler_(std::move(h)),
        ex_(executor_for(handler_, fallback)),
        timer_(ex_),
        alloc_(alloc) {}

  ~buffer_get_op() override { disconnect_slot(); }

  static executor_type executor_for(const Handler& h, const boost::asio::any_io_executor& fallback) {
    if constexpr (on_handler_executor)
      return boost::asio::get_associated_executor(h, fallback);
    else
      return fallback;
  }

  void destroy() noexcept override {
    allocator alloc(alloc_);
    this->~buffer_get_op();
    std::allocator_traits<allocator>::deallocate(alloc, this, 1);
  }

  void disconnect_slot() noexcept {
    if (!slot_connected_) return;
    slot_connected_ = false;
    boost::asio::get_associated_cancellation_slot(handler_).clear();
  }

  // Runs on the handler's executor, exactly once, holding the timer's reference.
  void on_timer() {
    if (!this->is_claimed()) this->owner->expire(this);
    disconnect_slot();
    Handler handler(std::move(handler_));
    std::vector<T> items = std::move(this->items);
    const auto ec = this->ec;
    this->release();
    if constexpr (on_handler_executor) {
      std::move(handler)(ec, std::move(items));
    } else {
      const auto ex = boost::asio::get_associated_executor(handler);
      boost::asio::dispatch(ex, boost::asio::append(std::move(handler), ec, std::move(items)));
    }
  }

  // The timer's completion handler; destroyed without being called when the executor's
  // context shuts down, and then it gives the waiter up.
  class timer_handler {
   public:
    explicit timer_handler(buffer_get_op* op) noexcept : op_(op) {}
    timer_handler(timer_handler&& o) noexcept : op_(std::exchange(o.op_, nullptr)) {}
    timer_handler& operator=(timer_handler&&) = delete;
    ~timer_handler() {
      if (!op_) return;
      if (!op_->is_claimed()) op_->owner->abandon(op_);
      op_->release();
    }
    void operator()(boost::system::error_code) { std::exchange(op_, nullptr)->on_timer(); }

   private:
    buffer_get_op* op_;
  };

  class cancel_task {
   public:
    explicit cancel_task(buffer_get_op* op) noexcept : op_(op) {}
    cancel_task(cancel_task&& o) noexcept : op_(std::exchange(o.op_, nullptr)) {}
    cancel_task& operator=(cancel_task&&) = delete;
    ~cancel_task() {
      if (op_) op_->release();
    }
    void operator()() { op_->timer_.cancel(); }

   private:
    buffer_get_op* op_;
  };

  class slot_handler {
   public:
    explicit slot_handler(buffer_get_op* op) noexcept : op_(op) {}
    void operator()(boost::asio::cancellation_type type) const {
      if (type != boost::asio::cancellation_type::none && !op_->is_claimed()) op_->owner->cancel(op_);
    }

   private:
    buffer_get_op* op_;
  };

  Handler handler_;
  executor_type ex_;
  timer_type timer_;
  allocator alloc_;
  bool slot_connected_ = false;
};

}  // namespace redcoro::detail
