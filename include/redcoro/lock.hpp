// A distributed lock: one Redis key holding a random token with a time to live, so only
// one holder at a time runs a critical section across processes, and a holder that dies
// lets go when the TTL runs out.
//
//   redcoro::lock camera{pool, "camera:7", 30s};
//   if (co_await camera.try_acquire()) { ... co_await camera.release(); }
//   {
//     redcoro::guard_options extended{.auto_extend = true};  // named: see the GCC 12 note in README
//     auto guard = co_await camera.acquire_guard(5s, extended);  // or throws lock_not_acquired
//     co_await process(7);
//   }  // released in the background, without blocking the thread
//
// Acquiring is SET key token NX PX ttl with a fresh 128-bit token from OpenSSL's CSPRNG.
// release() and extend() are Lua scripts that act only if the key still holds this token,
// so a holder whose lock expired can never delete or prolong the next holder's lock.
// The key is "lock:<name>". A lock object serves one holder: it is not meant for concurrent
// use by several coroutines, and must outlive its guards.
#pragma once

#include <redcoro/connection_pool.hpp>
#include <redcoro/detail/background_task.hpp>

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <string>

namespace redcoro {

struct lock_options {
  // acquire() retries after a wait that starts here and doubles up to retry_max, with jitter.
  std::chrono::milliseconds retry_min{5};
  std::chrono::milliseconds retry_max{100};
};

struct guard_options {
  // Extends the lock by its TTL every TTL/3 while the guard lives.
  bool auto_extend = false;
  // Called once, on the pool's executor, when the guard learns that the lock was lost (an
  // extension or the release found the key gone or holding another token). The lock's name
  // is passed. A warning is logged either way.
  std::function<void(const std::string&)> on_lost;
};

class lock {
 public:
  class guard;

  // Throws system_error(error::invalid_config) for an empty name or a non-positive ttl.
  lock(connection_pool& pool, std::string name, std::chrono::milliseconds ttl, lock_options options = {});
  lock(const lock&) = delete;
  lock& operator=(const lock&) = delete;
  // Does not release: a lock still held expires after its TTL. Guards release for you.
  ~lock();

  const std::string& name() const noexcept { return name_; }
  const std::string& key() const noexcept { return key_; }
  std::chrono::milliseconds ttl() const noexcept { return ttl_; }
  // The token of the current hold; empty when this object does not hold the lock.
  const std::string& token() const noexcept { return token_; }
  // Acquired and not released since, as far as this object knows (it may have expired).
  bool owned() const noexcept { return !token_.empty(); }

  // One attempt. If the reply is lost, reads the key to learn whether it took the lock.
  // Throws system_error(error::invalid_argument) if this object already holds it.
  boost::asio::awaitable<bool> try_acquire();
  // Attempts until `timeout` has passed (zero: once); past it throws
  // system_error(error::lock_not_acquired).
  boost::asio::awaitable<void> acquire(std::chrono::milliseconds timeout);
  // Deletes the key if it still holds this object's token. True if it did; false if the
  // lock had expired or been taken by another holder (or was not held).
  boost::asio::awaitable<bool> release();
  // Sets the remaining time to `ttl` if the key still holds this token; otherwise throws
  // system_error(error::lock_lost) and the object no longer holds it.
  boost::asio::awaitable<void> extend(std::chrono::milliseconds ttl);
  boost::asio::awaitable<void> extend() { return extend(ttl_); }
  // Whether the key holds this object's token now.
  boost::asio::awaitable<bool> held();

  // acquire(timeout), then a guard that releases on scope exit.
  boost::asio::awaitable<guard> acquire_guard(std::chrono::milliseconds timeout, guard_options options);
  boost::asio::awaitable<guard> acquire_guard(std::chrono::milliseconds timeout);

 private:
  struct guard_state;
  static boost::asio::awaitable<void> extend_loop(connection_pool& pool, std::string key, std::string token,
                                                  std::chrono::milliseconds ttl, std::shared_ptr<guard_state> state,
                                                  const std::atomic<bool>& stopping);
  static boost::asio::awaitable<void> release_detached(connection_pool& pool, std::string key, std::string token,
                                                       std::shared_ptr<guard_state> state);
  std::chrono::milliseconds next_retry_delay(std::chrono::milliseconds& delay);

  connection_pool& pool_;
  std::string name_;
  std::string key_;
  std::chrono::milliseconds ttl_;
  lock_options options_;
  std::string token_;
  std::minstd_rand rng_;
};

// Holds a lock until it is destroyed, then releases it in the background (spawned on the
// pool's executor; the pool must outlive that release). Move-only.
class lock::guard {
 public:
  guard() = default;
  guard(guard&& other) noexcept;
  guard& operator=(guard&& other) noexcept;
  ~guard();

  // True once an extension or the release found the lock lost.
  bool lost() const noexcept;
  explicit operator bool() const noexcept { return lock_ != nullptr; }

  // Releases now and reports the result: false if the lock had been lost.
  boost::asio::awaitable<bool> release();

 private:
  friend class lock;
  guard(lock& l, std::shared_ptr<guard_state> state, detail::background_task extender);
  void release_in_background() noexcept;

  lock* lock_ = nullptr;
  std::shared_ptr<guard_state> state_;
  detail::background_task extender_;
};

}  // namespace redcoro
