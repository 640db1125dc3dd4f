// Drains a circular_buffer<T> into a sink (a database, a Redis stream, a file) in batches,
// without losing a batch it has taken.
//
// The writer waits for up to `batch_size` items, at most `flush_interval`, and hands the
// batch to the sink, an awaitable function of std::span<const T> that throws on failure.
// The batch stays with the writer until a sink accepts it: a failed write is retried with
// exponential backoff (`attempts` calls in all), then handed to the fallback sink (e.g.
// json_lines_file()); if that fails too, the writer keeps the batch and starts over. Only
// during stop(), when both sinks have failed, is a batch given up, and then it is counted
// in `items_lost` and logged as an error. stop() flushes everything left in the buffer.
//
//   redcoro::batch_writer<tag_value> writer(ex, buffer, write_to_db, {},
//                                           redcoro::json_lines_file<tag_value>("unsent.jsonl"));
//   writer.start();
//   ...
//   co_await writer.stop();
#pragma once

#include <redcoro/circular_buffer.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spdlog {
class logger;
}

namespace redcoro {

struct batch_writer_options {
  std::size_t batch_size = 500;                   // items per batch, at most
  std::chrono::milliseconds flush_interval{500};  // the longest wait for a batch to fill
  int attempts = 3;                               // sink calls per batch before the fallback
  std::chrono::milliseconds backoff_base{100};    // the wait before the first retry; doubles...
  std::chrono::milliseconds backoff_cap{5'000};   // ...up to this
  std::string name = "batch_writer";              // names the writer in log messages
  std::shared_ptr<spdlog::logger> logger;         // redcoro::default_logger() when empty

  // Throws system_error(error::invalid_config) naming the first invalid field.
  void validate() const;
};

struct batch_writer_stats {
  std::uint64_t batches_written = 0;  // batches the sink accepted
  std::uint64_t items_written = 0;
  std::uint64_t failures = 0;         // sink and fallback calls that failed
  std::uint64_t retries = 0;          // sink calls after a failure
  std::uint64_t fallback_batches = 0;  // batches the fallback sink accepted
  std::uint64_t fallback_items = 0;
  std::uint64_t items_lost = 0;       // refused by both sinks during stop(); each logged as an error
  std::chrono::microseconds last_latency{0};  // of the last accepted write
};

// A sink: writes the batch or throws. The span stays valid until the awaitable completes.
template <class T>
using batch_sink = std::function<boost::asio::awaitable<void>(std::span<const T>)>;

namespace detail {

// Appends `text` to the file at `path` (created if missing), then syncs it to disk when
// `sync`. Throws system_error naming the file.
void append_to_file(const std::string& path, std::string_view text, bool sync);

template <class T>
boost::asio::awaitable<void> write_json_lines(std::string path, bool sync, std::span<const T> batch) {
  std::string lines;
  for (const T& item : batch) {
    lines += boost::json::serialize(boost::json::value_from(item));
    lines += '\n';
  }
  append_to_file(path, lines, sync);
  co_return;
}

// What does not depend on T: the strand, stopping, counters and log messages.
class batch_writer_core : public std::enable_shared_from_this<batch_writer_core> {
 public:
  using stop_handler = boost::asio::any_completion_handler<void()>;

  batch_writer_core(const boost::asio::any_io_executor& ex, batch_writer_options options);
  virtual ~batch_writer_core() = default;

  // Thread-safe. Start spawns the loop once; request_stop makes it flush and finish, and
  // completes `h` (if any) when it has.
  void request_start();
  void request_stop(stop_handler h);
  batch_writer_stats stats() const noexcept;

 protected:
  virtual void spawn_loop() = 0;       // on the strand
  void loop_finished(std::exception_ptr e);  // on the strand

  // Waits `d`, unless stopping (stop() cuts the wait short).
  boost::asio::awaitable<void> pause(std::chrono::milliseconds d);
  std::chrono::milliseconds backoff(int retry) const noexcept;  // before retry 1, 2, ...

  void accepted(std::size_t items, std::chrono::steady_clock::duration latency, bool fallback) noexcept;
  void failed(std::size_t items, int attempt, const std::exception_ptr& e, bool fallback) noexcept;
  void retrying() noexcept;
  void lost(std::size_t items) noexcept;

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  batch_writer_options options_;
  std::shared_ptr<spdlog::logger> logger_;
  boost::asio::cancellation_signal stop_signal_;  // cuts the buffer wait and backoff short
  bool stopping_ = false;                         // on the strand, like everything below

 private:
  void complete(stop_handler h);

  bool started_ = false;
  bool finished_ = false;
  std::vector<stop_handler> stop_waiters_;
  boost::asio::steady_timer backoff_timer_;
  struct counters {
    std::atomic<std::uint64_t> batches{0}, items{0}, failures{0}, retries{0}, fallback_batches{0},
        fallback_items{0}, lost{0};
    std::atomic<std::int64_t> last_latency_us{0};
  } counters_;
};

template <class T>
class batch_writer_state final : public batch_writer_core {
 public:
  batch_writer_state(const boost::asio::any_io_executor& ex, circular_buffer<T>& buffer, batch_sink<T> sink,
                     batch_writer_options options, batch_sink<T> fallback)
      : batch_writer_core(ex, std::move(options)),
        buffer_(&buffer),
        sink_(std::move(sink)),
        fallback_(std::move(fallback)) {}

 private:
  void spawn_loop() override {
    auto self = std::static_pointer_cast<batch_writer_state>(shared_from_this());
    boost::asio::co_spawn(strand_, run(self), [self](std::exception_ptr e) { self->loop_finished(e); });
  }

  static boost::asio::awaitable<void> run(std::shared_ptr<batch_writer_state> self) {
    auto token =
        boost::asio::bind_cancellation_slot(self->stop_signal_.slot(), boost::asio::as_tuple(boost::asio::use_awaitable));
    const std::chrono::steady_clock::duration interval = self->options_.flush_interval;
    while (!self->stopping_) {
      auto [ec, items] = co_await self->buffer_->get(self->options_.batch_size, interval, token);
      if (!items.empty()) co_await self->deliver(std::move(items));
    }
    for (;;) {
      auto items = self->buffer_->try_get(self->options_.batch_size);
      if (items.empty()) break;
      co_await self->deliver(std::move(items));
    }
  }

  // Returns once a sink has accepted the batch, or once it is given up during a stop.
  boost::asio::awaitable<void> deliver(std::vector<T> batch) {
    const std::span<const T> view(batch);
    for (;;) {
      for (int attempt = 1; attempt <= options_.attempts; ++attempt) {
        if (attempt > 1) {
          retrying();
          co_await pause(backoff(attempt - 1));
        }
        if (co_await write(sink_, view, attempt, false)) co_return;
      }
      if (fallback_ && co_await write(fallback_, view, 1, true)) co_return;
      if (stopping_) {
        lost(view.size());
        co_return;
      }
      co_await pause(options_.backoff_cap);
    }
  }

  boost::asio::awaitable<bool> write(const batch_sink<T>& sink, std::span<const T> batch, int attempt, bool fallback) {
    const auto start = std::chrono::steady_clock::now();
    std::exception_ptr failure;
    try {
      co_await sink(batch);
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      failed(batch.size(), attempt, failure, fallback);
      co_return false;
    }
    accepted(batch.size(), std::chrono::steady_clock::now() - start, fallback);
    co_return true;
  }

  circular_buffer<T>* buffer_;
  batch_sink<T> sink_;
  batch_sink<T> fallback_;
};

}  // namespace detail

template <class T>
class batch_writer {
 public:
  // The writer runs on a strand of `ex`. The buffer must outlive the writer's loop: until
  // stop() has completed, or the executor's context has stopped.
  batch_writer(const boost::asio::any_io_executor& ex, circular_buffer<T>& buffer, batch_sink<T> sink,
               batch_writer_options options = {}, batch_sink<T> fallback = {})
      : state_(std::make_shared<detail::batch_writer_state<T>>(ex, buffer, std::move(sink), std::move(options),
                                                               std::move(fallback))) {}

  batch_writer(const batch_writer&) = delete;
  batch_writer& operator=(const batch_writer&) = delete;

  // Asks a running writer to stop; it flushes the buffer in the background. Prefer
  // `co_await stop()`, which waits for that.
  ~batch_writer() {
    if (state_) state_->request_stop({});
  }

  // Starts the writing loop (once; thread-safe).
  void start() { state_->request_start(); }

  // Stops waiting for new items, writes what the buffer holds, and completes when the loop
  // has finished. Thread-safe; completes at once for a writer never started.
  // Completion signature: void().
  template <class CompletionToken = boost::asio::use_awaitable_t<>>
  auto stop(CompletionToken&& token = {}) {
    return boost::asio::async_initiate<CompletionToken, void()>(
        [state = state_](auto handler) { state->request_stop(std::move(handler)); }, token);
  }

  batch_writer_stats stats() const noexcept { return state_->stats(); }

 private:
  std::shared_ptr<detail::batch_writer_state<T>> state_;
};

// A fallback sink that appends each item as one line of JSON (through Boost.JSON's
// value_from, so T needs a tag_invoke) to the file at `path`, synced to disk when `sync`.
template <class T>
batch_sink<T> json_lines_file(std::string path, bool sync = true) {
  return [path = std::move(path), sync](std::span<const T> batch) {
    return detail::write_json_lines<T>(path, sync, batch);
  };
}

}  // namespace redcoro
