// The lock of a circular_buffer: a spin lock for very short sections that gives way to the
// rare side.
//
// Producers take it once per put, for a few nanoseconds, and take it again at once: a
// consumer that comes once per batch would lose almost every race for it (with std::mutex,
// each lost race is a futex sleep and a wake-up, while the backlog grows). So consumers
// take the `priority` side: while one waits, producers hold back. Taking the lock is one
// atomic exchange and releasing it one plain store, with no system call on either side.
// A thread that waits spins a little, then yields its time slice, and after that sleeps in
// short naps, so that a preempted holder (or one of lower real-time priority) gets to run.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace redcoro::detail {

class buffer_lock {
 public:
  // The producers' side.
  void lock() noexcept {
    if (requests_.load(std::memory_order_relaxed) == 0 && !locked_.exchange(true, std::memory_order_acquire))
      [[likely]]
      return;
    wait(false);
  }

  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

  // The consumers' side, as a BasicLockable.
  class priority_side {
   public:
    explicit priority_side(buffer_lock& l) noexcept : lock_(&l) {}
    void lock() noexcept {
      lock_->requests_.fetch_add(1, std::memory_order_relaxed);
      lock_->wait(true);
      lock_->requests_.fetch_sub(1, std::memory_order_relaxed);
    }
    void unlock() noexcept { lock_->unlock(); }

   private:
    buffer_lock* lock_;
  };

 private:
  static void relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    asm volatile("yield");
#endif
  }

  void wait(bool priority) noexcept {
    for (unsigned round = 0;; ++round) {
      if ((priority || requests_.load(std::memory_order_relaxed) == 0) && !locked_.load(std::memory_order_relaxed) &&
          !locked_.exchange(true, std::memory_order_acquire))
        return;
      if (round < 128)
        relax();
      else if (round < 256)
        std::this_thread::yield();
      else
        std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  std::atomic<bool> locked_{false};
  std::atomic<std::uint32_t> requests_{0};  // consumers waiting on the priority side
};

}  // namespace redcoro::detail
