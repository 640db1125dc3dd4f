#include <redcoro/detail/single_flight.hpp>

#include <redcoro/error.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdint>
#include <utility>
#include <list>
#include <optional>

namespace redcoro::detail {

namespace asio = boost::asio;

namespace {

using outcome = single_flight::outcome;
using wait_signature = void(std::exception_ptr, outcome);
using wait_handler = asio::any_completion_handler<wait_signature>;

// Completes a waiter on its own executor, never inside the caller: `ex` defers the call
// (a type-erased completion executor cannot promise never to block). The waiter's
// cancellation slot is cleared where cancellation is emitted, before it resumes.
void complete(const asio::any_io_executor& ex, wait_handler h, std::exception_ptr failure, outcome result) {
  asio::post(ex, [h = std::move(h), failure, result = std::move(result)]() mutable {
    const auto handler_ex = asio::get_associated_executor(h);
    asio::dispatch(handler_ex, [h = std::move(h), failure, result = std::move(result)]() mutable {
      auto slot = asio::get_associated_cancellation_slot(h);
      if (slot.is_connected()) slot.clear();
      std::move(h)(failure, std::move(result));
    });
  });
}

}  // namespace

class single_flight::flight : public std::enable_shared_from_this<flight> {
 public:
  flight(asio::any_io_executor ex, std::string_view key) : ex_(std::move(ex)), key_(key) {}

  const std::string& key() const noexcept { return key_; }

  void add_waiter(wait_handler h) {
    std::unique_lock lock(mutex_);
    if (landed_) {
      lock.unlock();
      complete(ex_, std::move(h), failure_, result_);
      return;
    }
    const std::uint64_t id = next_id_++;
    auto slot = asio::get_associated_cancellation_slot(h);
    if (slot.is_connected()) {
      slot.assign([weak = weak_from_this(), id](asio::cancellation_type type) {
        if (type == asio::cancellation_type::none) return;
        if (auto self = weak.lock()) self->cancel(id);
      });
    }
    // A parked waiter keeps its executor's context running until it completes.
    auto work = asio::prefer(asio::get_associated_executor(h), asio::execution::outstanding_work.tracked);
    waiters_.emplace_back(id, std::move(h), std::move(work));
  }

  void land(std::exception_ptr failure, outcome result) {
    std::list<waiter> waiters;
    {
      std::lock_guard lock(mutex_);
      landed_ = true;
      failure_ = failure;
      result_ = std::move(result);
      waiters.swap(waiters_);
    }
    for (auto& w : waiters) complete(ex_, std::move(w.handler), failure, result_);
  }

 private:
  // Boost 1.81's any_completion_handler move assignment recurses without end, so waiters
  // live in a list, which never assigns them, and handlers are only move-constructed.
  struct waiter {
    waiter(std::uint64_t i, wait_handler h, asio::any_completion_executor w)
        : id(i), handler(std::move(h)), work(std::move(w)) {}
    std::uint64_t id;
    wait_handler handler;
    asio::any_completion_executor work;
  };

  void cancel(std::uint64_t id) {
    std::optional<wait_handler> h;
    {
      std::lock_guard lock(mutex_);
      for (auto it = waiters_.begin(); it != waiters_.end(); ++it) {
        if (it->id != id) continue;
        h.emplace(std::move(it->handler));
        waiters_.erase(it);
        break;
      }
    }
    if (h) complete(ex_, std::move(*h), make_exception(error::cancelled, "cancelled while waiting for '" + key_ + "'"), {});
  }

  const asio::any_io_executor ex_;
  const std::string key_;
  std::mutex mutex_;
  bool landed_ = false;
  std::exception_ptr failure_;
  outcome result_;
  std::uint64_t next_id_ = 0;
  std::list<waiter> waiters_;
};

single_flight::ticket::ticket(single_flight& group, std::shared_ptr<flight> f, bool leader) noexcept
    : group_(&group), flight_(std::move(f)), leader_(leader) {}

single_flight::ticket::ticket(ticket&& other) noexcept
    : group_(other.group_), flight_(std::move(other.flight_)), leader_(std::exchange(other.leader_, false)) {}

single_flight::ticket::~ticket() {
  if (leader_ && flight_)
    land(make_exception(error::cancelled, "the work on '" + flight_->key() + "' was abandoned"), {});
}

boost::asio::awaitable<single_flight::outcome> single_flight::ticket::wait() {
  auto initiation = [f = flight_](wait_handler h) { f->add_waiter(std::move(h)); };
  return asio::async_initiate<const asio::use_awaitable_t<>&, wait_signature>(initiation, asio::use_awaitable);
}

void single_flight::ticket::land(std::exception_ptr failure, outcome result) {
  if (!leader_) return;
  leader_ = false;
  group_->finish(flight_);
  flight_->land(failure, std::move(result));
}

single_flight::single_flight(asio::any_io_executor ex) : ex_(std::move(ex)) {}
single_flight::~single_flight() = default;

single_flight::ticket single_flight::join(std::string_view key) {
  std::lock_guard lock(mutex_);
  auto it = flights_.find(key);
  if (it != flights_.end()) return ticket(*this, it->second, false);
  auto f = std::make_shared<flight>(ex_, key);
  flights_.emplace(f->key(), f);
  return ticket(*this, std::move(f), true);
}

void single_flight::finish(const std::shared_ptr<flight>& f) {
  std::lock_guard lock(mutex_);
  const auto it = flights_.find(f->key());
  if (it != flights_.end() && it->second == f) flights_.erase(it);
}

}  // namespace redcoro::detail
