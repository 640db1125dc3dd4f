// Fails fast while a dependency keeps failing.
//
// closed --(threshold consecutive failures)--> open --(open_time passes)--> half_open
// half_open lets exactly one trial call through: its success closes the breaker, its
// failure opens it again for another open_time. Safe to use from several threads; in the
// closed state allow() and record_success() are single atomic loads.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string_view>

namespace redcoro {

struct circuit_breaker_options {
  int threshold = 5;                            // consecutive failures that open it (>= 1)
  std::chrono::milliseconds open_time{30'000};  // how long it stays open (> 0)
};

class circuit_breaker {
 public:
  using clock = std::chrono::steady_clock;
  using options = circuit_breaker_options;
  enum class state { closed, open, half_open };

  // `now` lets tests control time. Throws system_error(error::invalid_config).
  explicit circuit_breaker(options opts = {}, std::function<clock::time_point()> now = &clock::now);

  // May a call go ahead? False means fail fast. In half_open, true for the single trial.
  bool allow();
  void record_success();
  void record_failure();

  // The state now (an open breaker whose time is up reads as half_open).
  state current() const;
  int consecutive_failures() const noexcept { return failures_.load(std::memory_order_relaxed); }
  const options& settings() const noexcept { return opts_; }

 private:
  state current_locked() const;

  options opts_;
  std::function<clock::time_point()> now_;
  mutable std::mutex mutex_;
  std::atomic<state> state_{state::closed};
  std::atomic<int> failures_{0};
  clock::time_point opened_at_{};
  bool trial_in_flight_ = false;
};

std::string_view to_string(circuit_breaker::state s) noexcept;

}  // namespace redcoro
