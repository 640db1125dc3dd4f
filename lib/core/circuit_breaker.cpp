#include <redcoro/circuit_breaker.hpp>
#include <redcoro/error.hpp>

namespace redcoro {

circuit_breaker::circuit_breaker(options opts, std::function<clock::time_point()> now)
    : opts_(opts), now_(std::move(now)) {
  if (opts_.threshold < 1)
    throw boost::system::system_error(error::invalid_config, "circuit breaker threshold must be at least 1");
  if (opts_.open_time.count() <= 0)
    throw boost::system::system_error(error::invalid_config, "circuit breaker open time must be positive");
}

circuit_breaker::state circuit_breaker::current_locked() const {
  const state s = state_.load(std::memory_order_relaxed);
  if (s == state::open && now_() - opened_at_ >= opts_.open_time) return state::half_open;
  return s;
}

circuit_breaker::state circuit_breaker::current() const {
  if (state_.load(std::memory_order_acquire) == state::closed) return state::closed;
  std::lock_guard lock(mutex_);
  return current_locked();
}

bool circuit_breaker::allow() {
  if (state_.load(std::memory_order_acquire) == state::closed) return true;
  std::lock_guard lock(mutex_);
  switch (current_locked()) {
    case state::closed:
      return true;
    case state::open:
      return false;
    case state::half_open:
      state_.store(state::half_open, std::memory_order_release);
      if (trial_in_flight_) return false;
      trial_in_flight_ = true;
      return true;
  }
  return false;
}

void circuit_breaker::record_success() {
  if (state_.load(std::memory_order_acquire) == state::closed &&
      failures_.load(std::memory_order_relaxed) == 0)
    return;
  std::lock_guard lock(mutex_);
  failures_.store(0, std::memory_order_relaxed);
  trial_in_flight_ = false;
  state_.store(state::closed, std::memory_order_release);
}

void circuit_breaker::record_failure() {
  std::lock_guard lock(mutex_);
  const int failures = failures_.fetch_add(1, std::memory_order_relaxed) + 1;
  const state s = current_locked();
  if (s == state::half_open || (s == state::closed && failures >= opts_.threshold)) {
    opened_at_ = now_();
    trial_in_flight_ = false;
    state_.store(state::open, std::memory_order_release);
  }
}

std::string_view to_string(circuit_breaker::state s) noexcept {
  switch (s) {
    case circuit_breaker::state::closed: return "closed";
    case circuit_breaker::state::open: return "open";
    case circuit_breaker::state::half_open: return "half-open";
  }
  return "unknown";
}

}  // namespace redcoro
