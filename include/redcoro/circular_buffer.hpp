// An in-memory, fixed-capacity ring of T between producer threads and consumer coroutines,
// e.g. a polling thread and a batch writer. No Redis involved.
//
// Producers call put() from any thread; when the buffer is full the oldest item is dropped
// to make room (counted, reported by put() and logged at a limited rate). Consumers take
// items with try_get(n), or wait for a batch with
//
//   auto items = co_await buffer.get(500, std::chrono::milliseconds(500));
//
// which completes as soon as 500 items are there, or after 500 ms with whatever is there
// (maybe nothing), on the awaiting operation's associated executor. Waiting consumers are
// served in FIFO order. A warning is logged once when utilization reaches the alert
// threshold, and a notice once when it falls back below threshold - hysteresis.
#pragma once

#include <redcoro/detail/buffer_get_op.hpp>
#include <redcoro/detail/buffer_lock.hpp>
#include <redcoro/error.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace spdlog {
class logger;
}

namespace redcoro {

struct circular_buffer_options {
  std::size_t capacity = 10'000;  // at least 1
  double alert_threshold = 80.0;  // percent of capacity, in (0, 100]: warn once on reaching it
  double alert_hysteresis = 10.0;  // percentage points: the all-clear comes below threshold - this
  std::chrono::milliseconds overflow_report_interval{10'000};  // at most one overflow warning per interval
  std::string name = "buffer";     // names the buffer in log messages
  std::shared_ptr<spdlog::logger> logger;  // redcoro::default_logger() when empty

  // `defaults` with capacity from REDCORO_BUFFER_MAX_SIZE and alert_threshold from
  // REDCORO_BUFFER_ALERT_THRESHOLD where those are set. Throws
  // system_error(error::invalid_config) naming the variable and its bad value.
  static circular_buffer_options from_env(circular_buffer_options defaults);
  static circular_buffer_options from_env();

  // Throws system_error(error::invalid_config) naming the first invalid field.
  void validate() const;
};

struct circular_buffer_stats {
  std::size_t size = 0;
  std::size_t capacity = 0;
  double utilization_pct = 0;     // size / capacity
  std::uint64_t total_added = 0;  // items put since construction or the last clear()
  std::uint64_t overflow_count = 0;  // of those, the oldest items dropped to make room
  double overflow_rate_pct = 0;   // overflow_count / total_added
  std::size_t waiting = 0;        // consumers waiting in get()
};

// What put() did with the new item: it is always stored; when the buffer was full, the
// oldest item was dropped to make room.
enum class put_result : unsigned char { stored, dropped_oldest };

namespace detail {

// The alerting side of a buffer: thresholds as item counts, and the log messages.
class buffer_monitor {
 public:
  explicit buffer_monitor(circular_buffer_options options);  // validates them

  std::size_t capacity() const noexcept { return options_.capacity; }
  std::size_t alert_at() const noexcept { return alert_at_; }            // size that raises the alert
  std::size_t recover_below() const noexcept { return recover_below_; }  // size under which it clears

  void utilization_high(std::size_t size) const;
  void utilization_normal(std::size_t size) const;
  void cleared(std::size_t dropped) const;
  // Thread-safe; logs at most once per overflow_report_interval.
  void overflowed(std::uint64_t overflows, std::uint64_t added) noexcept;

 private:
  circular_buffer_options options_;
  std::shared_ptr<spdlog::logger> logger_;
  std::size_t alert_at_;
  std::size_t recover_below_;
  std::atomic<std::int64_t> next_overflow_report_{std::numeric_limits<std::int64_t>::min()};
  std::atomic<std::uint64_t> overflows_reported_{0};
};

}  // namespace detail

template <class T>
class circular_buffer final : private detail::waiter_queue<T> {
  static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_destructible_v<T>,
                "circular_buffer<T> needs a T that moves and destroys without throwing");
  using waiter = detail::buffer_waiter<T>;

 public:
  using value_type = T;
  using executor_type = boost::asio::any_io_executor;
  using duration = std::chrono::steady_clock::duration;
  // get()'s completion signature: the items, oldest first; ec is error::cancelled when the
  // operation was cancelled or the buffer destroyed, and then no item was taken.
  using get_signature = void(boost::system::error_code, std::vector<T>);

  // Throws system_error(error::invalid_config) for a capacity of 0 or invalid options.
  // `ex` runs the get()s whose handlers have no executor but the system executor (plain
  // callbacks, use_future, operations in an asio::experimental::parallel_group), as an I/O
  // object's executor would; without it, those run on asio::system_executor.
  explicit circular_buffer(std::size_t capacity) : circular_buffer(options_with_capacity(capacity)) {}
  explicit circular_buffer(circular_buffer_options options)
      : circular_buffer(boost::asio::system_executor(), std::move(options)) {}
  circular_buffer(const executor_type& ex, std::size_t capacity) : circular_buffer(ex, options_with_capacity(capacity)) {}
  circular_buffer(const executor_type& ex, circular_buffer_options options)
      : monitor_(std::move(options)), capacity_(monitor_.capacity()), executor_(ex) {
    slots_ = std::allocator<T>().allocate(capacity_);
    // Touches every page now, so that no put() takes a page fault on its first round.
    std::memset(static_cast<void*>(slots_), 0, capacity_ * sizeof(T));
    update_check();
  }

  circular_buffer(const circular_buffer&) = delete;
  circular_buffer& operator=(const circular_buffer&) = delete;

  // Pending get()s complete with error::cancelled. No get() may run concurrently.
  ~circular_buffer() {
    effects fx;
    {
      std::lock_guard lk(consumer_lock_);
      while (first_) claim(first_, fx, error::cancelled, false);
    }
    post_cancels(fx);
    destroy_range(head_, count_);
    std::allocator<T>().deallocate(slots_, capacity_);
  }

  // Stores `item` (from any thread); drops the oldest item first when the buffer is full.
  put_result put(T&& item) {
    std::unique_lock lk(lock_);
    if (count_ + 1 < check_at_) [[likely]] {  // room, no alert to raise, no waiter to serve
      std::construct_at(slots_ + index(count_), std::move(item));
      ++count_;
      ++added_;
      return put_result::stored;
    }
    std::optional<T> dropped;  // destroyed after the lock is released
    effects fx;
    if (store(std::move(item), dropped, fx)) note_overflows(fx);
    lk.unlock();
    finish(fx);
    return dropped ? put_result::dropped_oldest : put_result::stored;
  }
  put_result put(const T& item) { return put(T(item)); }

  // Stores every element in one locked section (moved from an rvalue range, copied before
  // locking otherwise); returns how many older items were dropped to make room.
  template <std::ranges::input_range R>
    requires std::constructible_from<T, std::ranges::range_reference_t<R>>
  std::size_t put_many(R&& items) {
    if constexpr (std::is_lvalue_reference_v<R> && !std::is_trivially_copyable_v<T>) {
      std::vector<T> copies(std::ranges::begin(items), std::ranges::end(items));
      return put_many(std::move(copies));
    } else {
      std::vector<T> dropped;  // destroyed after the lock is released
      effects fx;
      {
        std::lock_guard lk(lock_);
        std::optional<T> one;
        for (auto it = std::ranges::begin(items); it != std::ranges::end(items); ++it) {
          if (store(T(std::ranges::iter_move(it)), one, fx)) {
            dropped.push_back(std::move(*one));
            one.reset();
          }
        }
        if (!dropped.empty()) note_overflows(fx);
      }
      finish(fx);
      return dropped.size();
    }
  }

  // Up to n items, oldest first, without waiting. Unlike get(), it does not queue behind
  // waiting consumers.
  std::vector<T> try_get(std::size_t n) {
    std::vector<T> out;
    out.reserve(std::min(n, size()));
    effects fx;
    {
      std::lock_guard lk(consumer_lock_);
      take(out, n, fx);
    }
    finish(fx);
    return out;
  }

  // Copies of the n oldest items (fewer if there are fewer), which stay in the buffer.
  std::vector<T> peek(std::size_t n) const {
    std::vector<T> out;
    std::lock_guard lk(consumer_lock_);
    n = std::min(n, count_);
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) out.push_back(slots_[index(i)]);
    return out;
  }

  // Drops every item and starts the statistics afresh (total_added and overflow_count
  // from 0, the utilization alert cleared). Returns the number of items dropped.
  std::size_t clear() {
    effects fx;
    std::size_t dropped = 0;
    std::size_t first = 0;
    {
      std::lock_guard lk(consumer_lock_);
      dropped = count_;
      first = head_;
      head_ = 0;
      count_ = 0;
      added_ = 0;
      overflows_ = 0;
      if (alert_active_) {
        alert_active_ = false;
        fx.normal_at = 0;
      }
      update_check();
      // The items are destroyed under the lock: their slots are reused as soon as it is released.
      destroy_range(first, dropped);
    }
    finish(fx);
    if (dropped > 0) monitor_.cleared(dropped);
    return dropped;
  }

  std::size_t size() const {
    std::lock_guard lk(consumer_lock_);
    return count_;
  }
  std::size_t capacity() const noexcept { return capacity_; }
  const executor_type& get_executor() const noexcept { return executor_; }
  bool empty() const { return size() == 0; }
  bool full() const { return size() == capacity_; }

  circular_buffer_stats stats() const {
    circular_buffer_stats s;
    {
      std::lock_guard lk(consumer_lock_);
      s.size = count_;
      s.total_added = added_;
      s.overflow_count = overflows_;
      s.waiting = waiting_;
    }
    s.capacity = capacity_;
    s.utilization_pct = 100.0 * static_cast<double>(s.size) / static_cast<double>(capacity_);
    s.overflow_rate_pct =
        s.total_added == 0 ? 0.0 : 100.0 * static_cast<double>(s.overflow_count) / static_cast<double>(s.total_added);
    return s;
  }

  // Waits for n items (a batch), at most `timeout`. Completes as soon as n items are there
  // (or the buffer is full, when n exceeds its capacity), else when the timeout expires,
  // with whatever is there then, possibly nothing. Completes on the handler's associated
  // executor (from the buffer's, for a handler on the system executor; as if by post when
  // it completes at once). Waiting consumers are served first come, first served.
  // Cancellation (any type, through the handler's cancellation slot) completes it with
  // error::cancelled and takes no item. A timeout of zero takes what is there at once,
  // like try_get().
  template <class CompletionToken = boost::asio::use_awaitable_t<>>
  auto get(std::size_t n, duration timeout = duration::max(), CompletionToken&& token = {}) {
    return boost::asio::async_initiate<CompletionToken, get_signature>(
        [this](auto handler, std::size_t count, duration limit) { this->start_get(std::move(handler), count, limit); },
        token, n, timeout);
  }

 private:
  static constexpr std::size_t none = std::numeric_limits<std::size_t>::max();

  // What a locked section found to do once the lock is released.
  struct effects {
    std::size_t high_at = none;    // the utilization alert was raised at this size
    std::size_t normal_at = none;  // ... or cleared at this size
    std::uint64_t overflows = 0;   // when an item was dropped: overflow_count and total_added
    std::uint64_t added = 0;
    waiter* cancels = nullptr;     // claimed waiters whose timers must be cancelled, in FIFO order
    waiter** cancels_end = &cancels;
  };

  static circular_buffer_options options_with_capacity(std::size_t capacity) {
    circular_buffer_options o;
    o.capacity = capacity;
    return o;
  }

  std::size_t index(std::size_t i) const noexcept {
    const std::size_t j = head_ + i;
    return j >= capacity_ ? j - capacity_ : j;
  }

  void destroy_range(std::size_t first, std::size_t n) noexcept {
    if constexpr (!std::is_trivially_destructible_v<T>) {
      const std::size_t a = std::min(n, capacity_ - first);
      std::destroy(slots_ + first, slots_ + first + a);
      std::destroy(slots_, slots_ + (n - a));
    }
  }

  void note_overflows(effects& fx) const noexcept {
    fx.overflows = overflows_;
    fx.added = added_;
  }

  // Under the lock: stores one item; true when the oldest was dropped (moved to `dropped`).
  bool store(T&& item, std::optional<T>& dropped, effects& fx) {
    ++added_;
    if (count_ == capacity_) [[unlikely]] {
      T* oldest = slots_ + head_;
      dropped.emplace(std::move(*oldest));
      std::destroy_at(oldest);
      std::construct_at(oldest, std::move(item));
      head_ = head_ + 1 == capacity_ ? 0 : head_ + 1;
      ++overflows_;
      return true;
    }
    std::construct_at(slots_ + index(count_), std::move(item));
    if (++count_ >= check_at_) [[unlikely]] grown(fx);
    return false;
  }

  // Under the lock: the size reached check_at_; raise the alert, serve waiters.
  void grown(effects& fx) {
    if (!alert_active_ && count_ >= monitor_.alert_at()) {
      alert_active_ = true;
      fx.high_at = count_;
    }
    serve_waiters(fx);
    update_check();
  }

  void serve_waiters(effects& fx) {
    while (first_ && count_ >= first_->need) claim(first_, fx, {}, true);
  }

  // Under the lock: moves up to n of the oldest items to `out`.
  void take(std::vector<T>& out, std::size_t n, effects& fx) {
    n = std::min(n, count_);
    const std::size_t a = std::min(n, capacity_ - head_);
    move_out(out, slots_ + head_, a);
    move_out(out, slots_, n - a);
    head_ = index(n);
    count_ -= n;
    if (alert_active_ && count_ < monitor_.recover_below()) {
      alert_active_ = false;
      fx.normal_at = count_;
      update_check();
    }
  }

  static void move_out(std::vector<T>& out, T* first, std::size_t n) {
    out.insert(out.end(), std::make_move_iterator(first), std::make_move_iterator(first + n));
    std::destroy(first, first + n);
  }

  // Under the lock: the smallest size at which a put has more to do than store the item
  // (raise the alert, serve a waiter, or fill the last slot).
  void update_check() noexcept {
    const std::size_t waiter_at = first_ ? first_->need : capacity_;
    const std::size_t alert_at = alert_active_ ? capacity_ : monitor_.alert_at();
    check_at_ = std::min(waiter_at, alert_at);
  }

  void enqueue(waiter* w) noexcept {
    w->prev = last_;
    w->next = nullptr;
    (last_ ? last_->next : first_) = w;
    last_ = w;
    w->queued = true;
    ++waiting_;
  }

  void unlink(waiter* w) noexcept {
    (w->prev ? w->prev->next : first_) = w->next;
    (w->next ? w->next->prev : last_) = w->prev;
    w->prev = w->next = nullptr;
    w->queued = false;
    --waiting_;
  }

  // Under the lock: the one claim of a queued waiter. `from_outside` when the claimer is not
  // the waiter's timer: its timer must then be cancelled, by a posted task, or by the
  // initiator if it is still arming it.
  void claim(waiter* w, effects& fx, boost::system::error_code ec, bool take_items, bool from_outside = true) {
    unlink(w);
    if (take_items) take(w->items, w->want, fx);
    w->ec = ec;
    if (from_outside && !w->arming) {
      w->add_ref();
      *fx.cancels_end = w;
      fx.cancels_end = &w->next;
    }
    w->set_claimed();
    update_check();
  }

  static void post_cancels(effects& fx) {
    for (waiter* w = fx.cancels; w;) {
      waiter* next = w->next;
      w->post_timer_cancel();
      w = next;
    }
  }

  // After the lock is released: logs, and wakes the waiters that were claimed.
  void finish(effects& fx) {
    if (fx.high_at != none) [[unlikely]] monitor_.utilization_high(fx.high_at);
    if (fx.normal_at != none) [[unlikely]] monitor_.utilization_normal(fx.normal_at);
    if (fx.overflows != 0) [[unlikely]] monitor_.overflowed(fx.overflows, fx.added);
    post_cancels(fx);
  }

  template <class Handler>
  void start_get(Handler&& handler, std::size_t n, duration timeout) {
    using op_type = detail::buffer_get_op<T, std::decay_t<Handler>>;
    op_type* op = op_type::create(std::move(handler), *this, n, capacity_, executor_);
    effects fx;
    std::unique_lock lk(consumer_lock_);
    if (n == 0 || timeout <= duration::zero() || (!first_ && count_ >= op->need)) {
      take(op->items, n, fx);
      lk.unlock();
      finish(fx);
      op->complete_now();
      return;
    }
    enqueue(op);
    op->arming = true;
    update_check();
    lk.unlock();
    // The op is visible to producers now, but none of them touches its timer while `arming`.
    try {
      op->arm(timeout);
    } catch (...) {
      lk.lock();
      op->arming = false;
      if (op->queued) claim(op, fx, error::cancelled, false, false);
      lk.unlock();
      op->release();
      throw;
    }
    lk.lock();
    op->arming = false;
    const bool claimed = !op->queued;
    lk.unlock();
    if (claimed) op->cancel_timer();
    op->release();
  }

  void expire(waiter* w) override {
    effects fx;
    {
      std::lock_guard lk(consumer_lock_);
      if (w->queued) claim(w, fx, {}, true, false);
    }
    finish(fx);
  }

  void cancel(waiter* w) override { give_up(w, true); }
  void abandon(waiter* w) override { give_up(w, false); }

  // A waiter leaves without items; the next ones may be satisfied by what it leaves.
  void give_up(waiter* w, bool from_outside) {
    effects fx;
    {
      std::lock_guard lk(consumer_lock_);
      if (w->queued) {
        claim(w, fx, error::cancelled, false, from_outside);
        serve_waiters(fx);
      }
    }
    finish(fx);
  }

  detail::buffer_monitor monitor_;
  const std::size_t capacity_;
  const executor_type executor_;
  T* slots_ = nullptr;

  // Everything below is guarded by lock_: producers (put) take it directly, every other
  // operation through consumer_lock_, which producers give way to.
  alignas(64) mutable detail::buffer_lock lock_;
  mutable detail::buffer_lock::priority_side consumer_lock_{lock_};
  std::size_t head_ = 0;   // index of the oldest item
  std::size_t count_ = 0;
  std::size_t check_at_ = 0;
  std::uint64_t added_ = 0;
  std::uint64_t overflows_ = 0;
  bool alert_active_ = false;
  waiter* first_ = nullptr;  // FIFO of waiting consumers
  waiter* last_ = nullptr;
  std::size_t waiting_ = 0;
};

}  // namespace redcoro
