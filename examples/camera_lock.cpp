// The camera-lock pattern: several workers (here coroutines; in production, processes on
// several machines) may be asked to process the same camera, and only one at a time must.
// Shows try_acquire for "skip if busy", a guard with automatic extension for work longer
// than the TTL, waiting with acquire(timeout), and why release checks the token.
//
//   REDIS_URL=redis://127.0.0.1:6379/0 ./camera_lock
#include <redcoro/lock.hpp>

#include "example_main.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include <iostream>

namespace asio = boost::asio;
using namespace std::chrono_literals;

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

// The seed's process_camera_with_lock: skip the camera if another worker has it.
asio::awaitable<void> process_camera(redcoro::connection_pool& pool, int worker, int camera_id) {
  redcoro::lock camera(pool, "camera:" + std::to_string(camera_id), 5s);
  if (!co_await camera.try_acquire()) {
    std::cout << "worker " << worker << ": camera " << camera_id << " already_processing\n";
    co_return;
  }
  std::cout << "worker " << worker << ": processing camera " << camera_id << "\n";
  co_await sleep_for(100ms);
  co_await camera.release();
  std::cout << "worker " << worker << ": done with camera " << camera_id << "\n";
}

asio::awaitable<void> run(redcoro::connection_pool& pool) {
  const auto ex = co_await asio::this_coro::executor;

  std::cout << "-- three workers asked for camera 1 at once\n";
  for (int w = 1; w <= 3; ++w) asio::co_spawn(ex, process_camera(pool, w, 1), asio::detached);
  co_await sleep_for(300ms);

  std::cout << "-- a long job (1.2 s) under a 400 ms TTL, kept alive by automatic extension\n";
  bool waiter_done = false;
  redcoro::lock camera(pool, "camera:2", 400ms);
  {
    redcoro::guard_options extended;
    extended.auto_extend = true;
    extended.on_lost = [](const std::string& name) { std::cout << "lost " << name << "!\n"; };
    auto guard = co_await camera.acquire_guard(1s, extended);
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          redcoro::lock other(pool, "camera:2", 400ms);
          try {
            co_await other.acquire(300ms);
          } catch (const boost::system::system_error& e) {
            std::cout << "impatient worker: " << e.what() << "\n";
          }
          const auto start = std::chrono::steady_clock::now();
          co_await other.acquire(5s);
          std::cout << "patient worker: got camera 2 after "
                    << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)
                           .count()
                    << " ms of waiting\n";
          co_await other.release();
          waiter_done = true;
        },
        asio::detached);
    co_await sleep_for(1200ms);
    std::cout << "long job: done, lock lost? " << (guard.lost() ? "yes" : "no") << "\n";
  }  // the guard releases in the background: the patient worker gets the camera
  while (!waiter_done) co_await sleep_for(10ms);

  std::cout << "-- a worker too slow for its TTL cannot release the next holder's lock\n";
  {
    redcoro::lock slow(pool, "camera:3", 200ms), next(pool, "camera:3", 5s);
    co_await slow.acquire(1s);
    co_await sleep_for(300ms);  // the TTL runs out meanwhile
    co_await next.acquire(1s);
    const bool released = co_await slow.release();
    const bool next_holds = co_await next.held();
    std::cout << "slow worker's release: " << (released ? "deleted the key" : "not held any more, key left alone")
              << "; next holder still holds it: " << (next_holds ? "yes" : "no") << "\n";
    co_await next.release();
  }
  co_await pool.close();
}

int main(int argc, char** argv) { return run_example("camera_lock", argc, argv, run); }
