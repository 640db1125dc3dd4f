// A coroutine that runs in the background until it finishes or is stopped: stop() (or the
// destructor) asks it to finish through terminal cancellation, from any thread, without
// waiting for it. The coroutine must not refer to the object that owns the task, and must
// check `stopping` before using anything that the owner's owner may destroy (a pool).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <atomic>
#include <exception>
#include <memory>

namespace redcoro::detail {

class background_task {
 public:
  background_task() = default;

  // Runs make_task(stopping) on a strand of `ex`; `stopping` turns true as soon as stop() is
  // called, so the coroutine can tell before touching anything its owner may have destroyed.
  template <class MakeTask>
  background_task(boost::asio::any_io_executor ex, MakeTask make_task)
      : state_(std::make_shared<state>(boost::asio::make_strand(ex))) {
    boost::asio::awaitable<void> task = make_task(static_cast<const std::atomic<bool>&>(state_->stopping));
    auto done = [s = state_](std::exception_ptr) { s->done.store(true, std::memory_order_release); };
    // The coroutine and the signal's emission both run on one strand.
    boost::asio::post(state_->ex, [s = state_, task = std::move(task), done = std::move(done)]() mutable {
      boost::asio::co_spawn(s->ex, std::move(task), boost::asio::bind_cancellation_slot(s->signal.slot(), std::move(done)));
    });
  }

  background_task(background_task&&) noexcept = default;
  background_task& operator=(background_task&& other) noexcept {
    if (this != &other) {
      stop();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  ~background_task() { stop(); }

  // Asks the coroutine to finish; it ends at its next suspension point.
  void stop() {
    if (!state_) return;
    state_->stopping.store(true, std::memory_order_release);
    auto ex = state_->ex;
    boost::asio::post(ex, [s = std::move(state_)] { s->signal.emit(boost::asio::cancellation_type::terminal); });
  }

  bool running() const noexcept { return state_ && !state_->done.load(std::memory_order_acquire); }

 private:
  struct state {
    explicit state(boost::asio::any_io_executor e) : ex(std::move(e)) {}
    boost::asio::any_io_executor ex;
    boost::asio::cancellation_signal signal;
    std::atomic<bool> stopping{false};
    std::atomic<bool> done{false};
  };
  std::shared_ptr<state> state_;
};

}  // namespace redcoro::detail
