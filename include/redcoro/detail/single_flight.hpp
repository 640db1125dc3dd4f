// Coalesces concurrent work on the same key within a process: the first caller leads,
// callers that join while it runs wait for its outcome (a stored value's text, or an
// exception). Thread-safe; each waiter resumes on its own executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace redcoro::detail {

class single_flight {
 public:
  class flight;

  struct outcome {
    std::string text;  // the value's stored text
    bool hit = false;  // the value was cached, not loaded
  };

  // A caller's place in the flight of one key: the leader lands it, the others wait.
  class ticket {
   public:
    ticket(ticket&&) noexcept;
    ticket& operator=(ticket&&) = delete;
    // A leader that never landed (its coroutine was destroyed) fails the waiters with
    // error::cancelled, and the next caller leads a new load.
    ~ticket();

    bool leader() const noexcept { return leader_; }
    // The leader's outcome, or its exception thrown. Cancellation stops the wait.
    boost::asio::awaitable<outcome> wait();
    // The leader's outcome (or failure), handed to every waiter; the key is free for a new
    // flight.
    void land(std::exception_ptr failure, outcome result);

   private:
    friend class single_flight;
    ticket(single_flight& group, std::shared_ptr<flight> f, bool leader) noexcept;

    single_flight* group_;
    std::shared_ptr<flight> flight_;
    bool leader_;
  };

  // `ex` runs the deferred completions of waiters.
  explicit single_flight(boost::asio::any_io_executor ex);
  single_flight(const single_flight&) = delete;
  single_flight& operator=(const single_flight&) = delete;
  ~single_flight();

  // Joins the flight of `key`, or starts one with this caller as its leader.
  ticket join(std::string_view key);

 private:
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  void finish(const std::shared_ptr<flight>& f);

  boost::asio::any_io_executor ex_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<flight>, key_hash, std::equal_to<>> flights_;
};

}  // namespace redcoro::detail
