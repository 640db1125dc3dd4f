#include <redcoro/lock.hpp>

#include <redcoro/logger.hpp>
#include <redcoro/script.hpp>

#include "keyed_op.hpp"
#include "random_token.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

namespace redcoro {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

// KEYS: the lock. ARGV: token. Deletes the key only while it holds the token.
const script release_script{R"(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)"};

// KEYS: the lock. ARGV: token, ttl ms. Sets the TTL only while the key holds the token;
// running it twice does no more than running it once.
const script extend_script{R"(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
)",
                           true};

[[noreturn]] void lost_error(const std::string& name) {
  throw boost::system::system_error(error::lock_lost, "lock '" + name +
                                                          "' is no longer held: it expired or another holder took it");
}

asio::awaitable<void> sleep_for(milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

}  // namespace

struct lock::guard_state {
  guard_state(std::string n, std::function<void(const std::string&)> cb) : name(std::move(n)), on_lost(std::move(cb)) {}

  void report_lost(std::string_view how) {
    if (lost.exchange(true)) return;
    default_logger()->warn("lock '{}' was lost ({}): another holder may have run at the same time", name, how);
    if (on_lost) on_lost(name);
  }

  std::string name;
  std::function<void(const std::string&)> on_lost;
  std::atomic<bool> lost{false};
};

lock::lock(connection_pool& pool, std::string name, milliseconds ttl, lock_options options)
    : pool_(pool), name_(std::move(name)), key_("lock:" + name_), ttl_(ttl), options_(options),
      rng_(std::random_device{}()) {
  if (name_.empty()) throw boost::system::system_error(error::invalid_config, "lock name must not be empty");
  if (ttl_.count() <= 0)
    throw boost::system::system_error(error::invalid_config, "lock '" + name_ + "': the ttl must be positive");
  if (options_.retry_min.count() <= 0 || options_.retry_max < options_.retry_min)
    throw boost::system::system_error(error::invalid_config,
                                      "lock '" + name_ + "': need 0 < retry_min <= retry_max");
}

lock::~lock() = default;

asio::awaitable<bool> lock::try_acquire() {
  if (owned())
    throw boost::system::system_error(error::invalid_argument,
                                      "lock '" + name_ + "': already held by this object; release it first");
  auto token = detail::random_hex(16);
  const auto px = ttl_.count();
  request set("SET", key_, token, "NX", "PX", px);
  bool taken = false;
  bool unknown = false;
  try {
    taken = (co_await pool_.execute<std::optional<std::string>>(set)).has_value();
  } catch (const boost::system::system_error& e) {
    if (e.code() != error::outcome_unknown) detail::rethrow_for_key(e, "lock", name_);
    unknown = true;
  }
  if (unknown) {
    // The SET may or may not have run: the key tells.
    request get("GET", key_);
    const auto holder = co_await detail::keyed("lock", name_, pool_.execute<std::optional<std::string>>(get));
    taken = holder == token;
  }
  if (taken) token_ = std::move(token);
  co_return taken;
}

milliseconds lock::next_retry_delay(milliseconds& delay) {
  // Equal jitter: half the delay fixed, half random, so contenders spread out.
  const auto half = delay.count() / 2;
  std::uniform_int_distribution<std::int64_t> jitter(0, half);
  const milliseconds out(delay.count() - half + jitter(rng_));
  delay = std::min(delay * 2, options_.retry_max);
  return out;
}

asio::awaitable<void> lock::acquire(milliseconds timeout) {
  if (timeout.count() < 0)
    throw boost::system::system_error(error::invalid_argument,
                                      "lock '" + name_ + "': the timeout must not be negative");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto delay = options_.retry_min;
  for (;;) {
    if (co_await try_acquire()) co_return;
    const auto left = std::chrono::ceil<milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    co_await sleep_for(std::min(next_retry_delay(delay), left));
  }
  throw boost::system::system_error(error::lock_not_acquired, "lock '" + name_ + "' not acquired within " +
                                                                  std::to_string(timeout.count()) +
                                                                  " ms: another holder has it");
}

asio::awaitable<bool> lock::release() {
  if (!owned()) co_return false;
  const auto n = co_await detail::keyed("lock", name_, release_script.run<std::int64_t>(pool_, 1, key_, token_));
  token_.clear();
  co_return n == 1;
}

asio::awaitable<void> lock::extend(milliseconds ttl) {
  if (ttl.count() <= 0)
    throw boost::system::system_error(error::invalid_argument, "lock '" + name_ + "': the ttl must be positive");
  if (!owned()) lost_error(name_);
  const auto px = ttl.count();
  const auto n = co_await detail::keyed("lock", name_, extend_script.run<std::int64_t>(pool_, 1, key_, token_, px));
  if (n != 1) {
    token_.clear();
    lost_error(name_);
  }
}

asio::awaitable<bool> lock::held() {
  if (!owned()) co_return false;
  request get("GET", key_);
  const auto holder = co_await detail::keyed("lock", name_, pool_.execute<std::optional<std::string>>(get));
  co_return holder == token_;
}

// ---------------------------------------------------------------------------------------
// Guards

asio::awaitable<lock::guard> lock::acquire_guard(milliseconds timeout, guard_options options) {
  co_await acquire(timeout);
  auto state = std::make_shared<guard_state>(name_, std::move(options.on_lost));
  detail::background_task extender;
  if (options.auto_extend) {
    auto make = [&pool = pool_, key = key_, token = token_, ttl = ttl_, state](const std::atomic<bool>& stopping) {
      return extend_loop(pool, key, token, ttl, state, stopping);
    };
    extender = detail::background_task(pool_.get_executor(), make);
  }
  co_return guard(*this, std::move(state), std::move(extender));
}

asio::awaitable<lock::guard> lock::acquire_guard(milliseconds timeout) {
  // Built here, not as a default argument: GCC 12 destroys aggregate temporaries in a
  // co_await operand twice.
  guard_options none;
  return acquire_guard(timeout, std::move(none));
}

asio::awaitable<void> lock::extend_loop(connection_pool& pool, std::string key, std::string token, milliseconds ttl,
                                        std::shared_ptr<guard_state> state, const std::atomic<bool>& stopping) {
  const auto period = std::max(ttl / 3, milliseconds(1));
  const auto px = ttl.count();
  for (;;) {
    co_await sleep_for(period);
    if (stopping) co_return;
    std::int64_t n = 1;
    try {
      n = co_await extend_script.run<std::int64_t>(pool, 1, key, token, px);
    } catch (const boost::system::system_error& e) {
      if (stopping || e.code() == error::cancelled || e.code() == asio::error::operation_aborted) co_return;
      // The next attempt tells whether the lock survived the failure.
      default_logger()->warn("lock '{}': extension failed: {}", state->name, e.what());
    }
    if (stopping) co_return;
    if (n != 1) {
      state->report_lost("an automatic extension found it gone");
      co_return;
    }
  }
}

asio::awaitable<void> lock::release_detached(connection_pool& pool, std::string key, std::string token,
                                             std::shared_ptr<guard_state> state) {
  try {
    const auto n = co_await release_script.run<std::int64_t>(pool, 1, key, token);
    if (n != 1) state->report_lost("found at release");
  } catch (const std::exception& e) {
    default_logger()->warn("lock '{}': release failed ({}); it expires within its TTL", state->name, e.what());
  }
}

lock::guard::guard(lock& l, std::shared_ptr<guard_state> state, detail::background_task extender)
    : lock_(&l), state_(std::move(state)), extender_(std::move(extender)) {}

lock::guard::guard(guard&& other) noexcept
    : lock_(std::exchange(other.lock_, nullptr)), state_(std::move(other.state_)),
      extender_(std::move(other.extender_)) {}

lock::guard& lock::guard::operator=(guard&& other) noexcept {
  if (this != &other) {
    release_in_background();
    lock_ = std::exchange(other.lock_, nullptr);
    state_ = std::move(other.state_);
    extender_ = std::move(other.extender_);
  }
  return *this;
}

lock::guard::~guard() { release_in_background(); }

bool lock::guard::lost() const noexcept { return state_ && state_->lost.load(); }

void lock::guard::release_in_background() noexcept {
  if (!lock_) return;
  extender_.stop();
  lock& l = *std::exchange(lock_, nullptr);
  if (!l.owned()) return;
  if (state_->lost) {  // an extension found it gone: nothing of ours to delete
    l.token_.clear();
    return;
  }
  try {
    asio::co_spawn(l.pool_.get_executor(), release_detached(l.pool_, l.key_, std::move(l.token_), state_),
                   asio::detached);
  } catch (const std::exception& e) {
    default_logger()->warn("lock '{}': could not start the release ({}); it expires within its TTL", l.name_,
                           e.what());
  }
  l.token_.clear();
}

asio::awaitable<bool> lock::guard::release() {
  if (!lock_) co_return false;
  extender_.stop();
  lock& l = *std::exchange(lock_, nullptr);
  const bool released = co_await l.release();
  if (!released) state_->report_lost("found at release");
  co_return released;
}

}  // namespace redcoro
