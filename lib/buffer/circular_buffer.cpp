#include <redcoro/circular_buffer.hpp>
#include <redcoro/logger.hpp>

#include <spdlog/spdlog.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string_view>

namespace redcoro {
namespace {

constexpr const char* capacity_variable = "REDCORO_BUFFER_MAX_SIZE";
constexpr const char* threshold_variable = "REDCORO_BUFFER_ALERT_THRESHOLD";

[[noreturn]] void invalid(const std::string& what) {
  throw boost::system::system_error(error::invalid_config, what);
}

std::string_view trimmed(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

template <class Number>
bool parse_whole(std::string_view text, Number& out) noexcept {
  text = trimmed(text);
  const auto res = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && res.ec == std::errc{} && res.ptr == text.data() + text.size();
}

std::size_t percent_of(std::size_t capacity, double pct) noexcept {
  return static_cast<std::size_t>(std::ceil(static_cast<double>(capacity) * pct / 100.0 - 1e-9));
}

std::int64_t steady_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

circular_buffer_options circular_buffer_options::from_env(circular_buffer_options defaults) {
  if (const char* v = std::getenv(capacity_variable)) {
    std::size_t capacity = 0;
    if (!parse_whole(v, capacity) || capacity == 0)
      invalid(std::string(capacity_variable) + "='" + v + "': the buffer capacity must be a whole number of at least 1");
    defaults.capacity = capacity;
  }
  if (const char* v = std::getenv(threshold_variable)) {
    double threshold = 0;
    if (!parse_whole(v, threshold) || !(threshold > 0 && threshold <= 100))
      invalid(std::string(threshold_variable) + "='" + v +
              "': the alert threshold must be a percentage greater than 0 and at most 100");
    defaults.alert_threshold = threshold;
    defaults.alert_hysteresis = std::min(defaults.alert_hysteresis, threshold);
  }
  defaults.validate();
  return defaults;
}

circular_buffer_options circular_buffer_options::from_env() { return from_env(circular_buffer_options()); }

void circular_buffer_options::validate() const {
  if (capacity == 0) invalid("circular_buffer: capacity must be at least 1 item");
  if (!(alert_threshold > 0 && alert_threshold <= 100))
    invalid("circular_buffer: alert_threshold must be a percentage greater than 0 and at most 100 (got " +
            std::to_string(alert_threshold) + ")");
  if (!(alert_hysteresis >= 0 && alert_hysteresis <= alert_threshold))
    invalid("circular_buffer: alert_hysteresis must be between 0 and alert_threshold percentage points (got " +
            std::to_string(alert_hysteresis) + ")");
  if (overflow_report_interval.count() < 0) invalid("circular_buffer: overflow_report_interval must not be negative");
}

namespace detail {

buffer_monitor::buffer_monitor(circular_buffer_options options) : options_(std::move(options)) {
  options_.validate();
  logger_ = options_.logger ? options_.logger : default_logger();
  alert_at_ = std::clamp<std::size_t>(percent_of(options_.capacity, options_.alert_threshold), 1, options_.capacity);
  recover_below_ = std::clamp<std::size_t>(
      percent_of(options_.capacity, options_.alert_threshold - options_.alert_hysteresis), 1, alert_at_);
}

void buffer_monitor::utilization_high(std::size_t size) const {
  logger_->warn("buffer '{}' utilization high: {:.1f}% ({}/{} items) reached the {:g}% alert threshold",
                options_.name, 100.0 * static_cast<double>(size) / static_cast<double>(options_.capacity), size,
                options_.capacity, options_.alert_threshold);
}

void buffer_monitor::utilization_normal(std::size_t size) const {
  logger_->info("buffer '{}' utilization back to normal: {:.1f}% ({}/{} items), below {:g}%", options_.name,
                100.0 * static_cast<double>(size) / static_cast<double>(options_.capacity), size, options_.capacity,
                options_.alert_threshold - options_.alert_hysteresis);
}

void buffer_monitor::cleared(std::size_t dropped) const {
  logger_->info("buffer '{}' cleared: {} items dropped", options_.name, dropped);
}

void buffer_monitor::overflowed(std::uint64_t overflows, std::uint64_t added) noexcept {
  const std::int64_t now = steady_ns();
  std::int64_t due = next_overflow_report_.load(std::memory_order_relaxed);
  const std::int64_t interval = std::chrono::nanoseconds(options_.overflow_report_interval).count();
  do {
    if (now < due) return;
  } while (!next_overflow_report_.compare_exchange_weak(due, now + interval, std::memory_order_relaxed));
  // This thread reports; a report racing with clear() may see smaller figures than the last one.
  const std::uint64_t before = overflows_reported_.exchange(overflows, std::memory_order_relaxed);
  const std::uint64_t since = overflows > before ? overflows - before : overflows;
  try {
    logger_->warn(
        "buffer '{}' full: dropped {} oldest item{} since the last report ({} dropped of {} added, overflow rate "
        "{:.3f}%); the consumer is not keeping up",
        options_.name, since, since == 1 ? "" : "s", overflows, added,
        added == 0 ? 0.0 : 100.0 * static_cast<double>(overflows) / static_cast<double>(added));
  } catch (...) {  // a failing log sink must not fail put()
  }
}

}  // namespace detail
}  // namespace redcoro
