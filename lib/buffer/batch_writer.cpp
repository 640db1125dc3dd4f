#include <redcoro/batch_writer.hpp>
#include <redcoro/logger.hpp>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace asio = boost::asio;

namespace redcoro {

void batch_writer_options::validate() const {
  auto invalid = [](const char* what) { throw boost::system::system_error(error::invalid_config, what); };
  if (batch_size == 0) invalid("batch_writer: batch_size must be at least 1");
  if (flush_interval.count() <= 0) invalid("batch_writer: flush_interval must be positive");
  if (attempts < 1) invalid("batch_writer: attempts must be at least 1");
  if (backoff_base.count() < 0 || backoff_cap < backoff_base)
    invalid("batch_writer: backoff_base must not be negative nor exceed backoff_cap");
}

namespace detail {

void append_to_file(const std::string& path, std::string_view text, bool sync) {
  auto fail = [&](const char* doing) {
    throw boost::system::system_error(errno, boost::system::system_category(),
                                      std::string("cannot ") + doing + " '" + path + "'");
  };
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) fail("open");
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_at_exit{fd};
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("append to");
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  if (sync && ::fdatasync(fd) != 0) fail("sync");
}

batch_writer_core::batch_writer_core(const asio::any_io_executor& ex, batch_writer_options options)
    : strand_(asio::make_strand(ex)), options_(std::move(options)), backoff_timer_(strand_) {
  options_.validate();
  logger_ = options_.logger ? options_.logger : default_logger();
}

void batch_writer_core::request_start() {
  asio::dispatch(strand_, [self = shared_from_this()] {
    if (self->started_ || self->stopping_) return;
    self->started_ = true;
    self->spawn_loop();
  });
}

void batch_writer_core::request_stop(stop_handler h) {
  asio::dispatch(strand_, [self = shared_from_this(), h = std::move(h)]() mutable {
    if (!self->stopping_) {
      self->stopping_ = true;
      self->stop_signal_.emit(asio::cancellation_type::terminal);
    }
    if (!h) return;
    if (!self->started_ || self->finished_)
      self->complete(std::move(h));
    else
      self->stop_waiters_.push_back(std::move(h));
  });
}

void batch_writer_core::loop_finished(std::exception_ptr e) {
  if (e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      logger_->error("batch writer '{}' stopped by an unexpected error: {}", options_.name, ex.what());
    } catch (...) {
      logger_->error("batch writer '{}' stopped by an unexpected error", options_.name);
    }
  }
  finished_ = true;
  for (auto& h : stop_waiters_) complete(std::move(h));
  stop_waiters_.clear();
}

void batch_writer_core::complete(stop_handler h) {
  asio::post(strand_, std::move(h));  // then runs on h's associated executor
}

asio::awaitable<void> batch_writer_core::pause(std::chrono::milliseconds d) {
  if (stopping_ || d.count() <= 0) co_return;
  backoff_timer_.expires_after(d);
  auto token = asio::bind_cancellation_slot(stop_signal_.slot(), asio::as_tuple(asio::use_awaitable));
  co_await backoff_timer_.async_wait(token);
}

std::chrono::milliseconds batch_writer_core::backoff(int retry) const noexcept {
  auto d = options_.backoff_base;
  for (int i = 1; i < retry && d < options_.backoff_cap; ++i) d *= 2;
  return std::min(d, options_.backoff_cap);
}

void batch_writer_core::accepted(std::size_t items, std::chrono::steady_clock::duration latency,
                                 bool fallback) noexcept {
  if (fallback) {
    counters_.fallback_batches.fetch_add(1, std::memory_order_relaxed);
    counters_.fallback_items.fetch_add(items, std::memory_order_relaxed);
    logger_->warn("batch writer '{}': a batch of {} items went to the fallback sink", options_.name, items);
  } else {
    counters_.batches.fetch_add(1, std::memory_order_relaxed);
    counters_.items.fetch_add(items, std::memory_order_relaxed);
  }
  counters_.last_latency_us.store(std::chrono::duration_cast<std::chrono::microseconds>(latency).count(),
                                  std::memory_order_relaxed);
}

void batch_writer_core::failed(std::size_t items, int attempt, const std::exception_ptr& e, bool fallback) noexcept {
  counters_.failures.fetch_add(1, std::memory_order_relaxed);
  std::string why = "unknown error";
  try {
    std::rethrow_exception(e);
  } catch (const boost::system::system_error& ex) {
    why = message_of(ex);
  } catch (const std::exception& ex) {
    why = ex.what();
  } catch (...) {
  }
  if (fallback)
    logger_->error("batch writer '{}': the fallback sink failed for a batch of {} items: {}", options_.name, items,
                   why);
  else
    logger_->warn("batch writer '{}': the sink failed for a batch of {} items (attempt {} of {}): {}", options_.name,
                  items, attempt, options_.attempts, why);
}

void batch_writer_core::retrying() noexcept { counters_.retries.fetch_add(1, std::memory_order_relaxed); }

void batch_writer_core::lost(std::size_t items) noexcept {
  counters_.lost.fetch_add(items, std::memory_order_relaxed);
  logger_->error("batch writer '{}': {} items LOST: every sink refused them while stopping", options_.name, items);
}

batch_writer_stats batch_writer_core::stats() const noexcept {
  batch_writer_stats s;
  s.batches_written = counters_.batches.load(std::memory_order_relaxed);
  s.items_written = counters_.items.load(std::memory_order_relaxed);
  s.failures = counters_.failures.load(std::memory_order_relaxed);
  s.retries = counters_.retries.load(std::memory_order_relaxed);
  s.fallback_batches = counters_.fallback_batches.load(std::memory_order_relaxed);
  s.fallback_items = counters_.fallback_items.load(std::memory_order_relaxed);
  s.items_lost = counters_.lost.load(std::memory_order_relaxed);
  s.last_latency = std::chrono::microseconds(counters_.last_latency_us.load(std::memory_order_relaxed));
  return s;
}

}  // namespace detail
}  // namespace redcoro
