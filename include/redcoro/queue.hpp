// A work queue in a Redis list with a maximum size and an overflow policy, blocking pops, and
// reliable consumption (receive, then ack or nack) that loses no item when a consumer dies.
//
//   redcoro::queue q{pool, "images", {.max_size = 10'000, .policy = redcoro::overflow_policy::dead_letter}};
//   auto r = co_await q.push(job);                        // one atomic round trip
//   if (auto d = co_await q.receive<job_t>(5s)) {         // at-least-once
//     co_await process(d->value());
//     co_await d->ack();
//   }
//   auto item = co_await q.pop<job_t>(250ms);             // at-most-once, see below
//
// Overflow policies, each applied atomically by one Lua script in the same round trip as the
// push, so concurrent producers never leave more than max_size items:
//   - reject:       a push to a full queue adds nothing (push_or_throw throws queue_full);
//   - dead_letter:  the oldest items move to the dead-letter list, wrapped as JSON
//                   {original_queue, data, reason, policy, time}: nothing is lost;
//   - drop_oldest:  the oldest items are removed and counted, with a rate-limited warning.
//
// pop() is at most once: if its reply is lost (connection killed, caller cancelled while
// blocked), an item the server already removed is gone. receive() is at least once: the item
// moves atomically (BLMOVE) to this consumer's processing list and then into an in-flight
// table with a visibility deadline; ack() deletes it, nack() puts it back at the head, and
// recover() puts back items whose deadline passed and items stranded by consumers that died.
//
// Key layout (every key shares the hash tag {name}, so the queue works on Redis Cluster):
//   {name}:items                the queue: pushed at the tail, taken from the head
//   {name}:<dead_letter_name>   the dead-letter list (default "{name}:dead_letter")
//   {name}:stats                hash of counters: pushed rejected dropped dead_lettered recovered
//   {name}:processing:<c>       consumer c's landing list for BLMOVE
//   {name}:in_flight            hash: delivery id -> item
//   {name}:deadlines            zset: delivery id -> visibility deadline (server ms)
//   {name}:consumers            zset: consumer -> liveness deadline (server ms)
// Values go through the codec: strings as they are, other types as JSON.
// The pool must outlive the queue, and the queue its deliveries and operations in progress.
// See docs/data_structures.md for the scripts and what happens when a reply is lost.
#pragma once

#include <redcoro/codec.hpp>
#include <redcoro/connection_pool.hpp>
#include <redcoro/detail/background_task.hpp>
#include <redcoro/detail/keyed_errors.hpp>

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace redcoro {

enum class overflow_policy { reject, dead_letter, drop_oldest };

// "reject", "dead_letter", "drop_oldest": the names stored in dead-letter entries.
std::string_view to_string(overflow_policy p) noexcept;

struct queue_options {
  std::int64_t max_size = 0;  // 0: unbounded, never full
  overflow_policy policy = overflow_policy::reject;
  std::string dead_letter_name = "dead_letter";  // the dead-letter list is "{name}:<dead_letter_name>"
  double pressure_threshold = 0.8;               // pressure().above_threshold from this fill ratio on
  // How long a received item may stay unacknowledged before recover() puts it back.
  std::chrono::milliseconds visibility_timeout{30'000};
  // This consumer's name; empty: a random one. A restarted process that keeps its name
  // takes back the items stranded in its processing list on its first receive().
  std::string consumer_name;
  std::int64_t peek_limit = 1'000;  // most items one peek() may return
  std::chrono::milliseconds drop_warning_interval{10'000};  // at most one drop warning per interval
};

struct push_result {
  bool accepted = false;                // false only for reject on a full queue
  std::int64_t length = 0;              // the queue's length afterwards
  std::int64_t dropped = 0;             // drop_oldest: items removed by this push
  std::int64_t moved_to_dead_letter = 0;  // dead_letter: items moved by this push
};

// push_many: with reject, the first items that fit are added and the rest are not, so
// items [accepted, accepted + rejected) of the range were refused.
struct push_many_result {
  std::int64_t accepted = 0;
  std::int64_t rejected = 0;
  std::int64_t length = 0;
  std::int64_t dropped = 0;
  std::int64_t moved_to_dead_letter = 0;
};

struct queue_pressure {
  std::int64_t length = 0;
  std::int64_t max_size = 0;  // 0: unbounded
  double fill_ratio = 0;      // length / max_size; 0 when unbounded
  bool is_full = false;
  bool above_threshold = false;
};

// Counted by the push, settle and recover scripts on the server, for every producer and
// consumer of the queue.
struct queue_counters {
  std::int64_t pushed = 0;         // items added
  std::int64_t rejected = 0;       // items refused by reject
  std::int64_t dropped = 0;        // items removed by drop_oldest
  std::int64_t dead_lettered = 0;  // items moved to the dead-letter list
  std::int64_t recovered = 0;      // items put back by recover()
};

// An entry of the dead-letter list.
struct dead_letter_entry {
  std::string original_queue;
  std::string data;  // the item as it was stored
  std::string reason;
  std::string policy;  // the overflow policy, or "consumer" for delivery::dead_letter()
  std::chrono::system_clock::time_point time;

  template <class T>
  T value() const {
    return decode<T>(data);
  }
};

class queue;

// An item taken by receive(): settle it with ack(), nack() or dead_letter(). One left
// unsettled goes back to the queue once the visibility timeout has passed and recover() runs.
template <class T>
class delivery {
 public:
  delivery(queue& q, std::string id, T value) : queue_(&q), id_(std::move(id)), value_(std::move(value)) {}

  T& value() noexcept { return value_; }
  const T& value() const noexcept { return value_; }
  const std::string& id() const noexcept { return id_; }

  // Each: true if the item was still in flight; false if recover() had already put it back
  // (then another consumer may process it too) or it was settled before.
  boost::asio::awaitable<bool> ack();
  boost::asio::awaitable<bool> nack();
  boost::asio::awaitable<bool> dead_letter(std::string_view reason);

 private:
  queue* queue_;
  std::string id_;
  T value_;
};

class queue {
 public:
  // Throws system_error(error::invalid_config) for an empty name, a name or dead-letter
  // name holding '{' or '}', a negative max_size, a threshold outside (0, 1] or a
  // non-positive visibility timeout or peek limit.
  queue(connection_pool& pool, std::string name, queue_options options = {});
  queue(const queue&) = delete;
  queue& operator=(const queue&) = delete;
  ~queue();

  const std::string& name() const noexcept { return name_; }
  const queue_options& options() const noexcept { return options_; }
  const std::string& key() const noexcept { return keys_.items; }
  const std::string& dead_letter_key() const noexcept { return keys_.dead_letter; }
  const std::string& consumer() const noexcept { return consumer_; }
  const std::string& processing_key() const noexcept { return processing_key_; }

  template <class T>
  boost::asio::awaitable<push_result> push(const T& value) {
    std::vector<std::string> items(1);
    encode_to(items[0], value);
    auto r = co_await push_encoded(items);
    push_result out;
    out.accepted = r.accepted == 1;
    out.length = r.length;
    out.dropped = r.dropped;
    out.moved_to_dead_letter = r.moved_to_dead_letter;
    co_return out;
  }

  // Like push, but a refused item throws system_error(error::queue_full).
  template <class T>
  boost::asio::awaitable<push_result> push_or_throw(const T& value) {
    auto r = co_await push(value);
    if (!r.accepted) throw_full(r.length);
    co_return r;
  }

  // Pushes every value of `values` in order, in one atomic round trip.
  template <class Range>
  boost::asio::awaitable<push_many_result> push_many(const Range& values) {
    std::vector<std::string> items;
    for (const auto& v : values) items.push_back(encode(v));
    co_return co_await push_encoded(items);
  }

  // The oldest item, waiting up to `timeout` for one; zero does not wait. An item already
  // there comes by LPOP over the shared connection; an empty queue is waited on with BLPOP
  // and a fractional timeout on a leased connection. At most once: see above.
  template <class T = std::string>
  boost::asio::awaitable<std::optional<T>> pop(std::chrono::milliseconds timeout) {
    auto text = co_await pop_encoded(timeout);
    co_return decode_optional<T>(text);
  }

  template <class T = std::string>
  boost::asio::awaitable<std::optional<T>> try_pop() {
    auto text = co_await try_pop_encoded();
    co_return decode_optional<T>(text);
  }

  // Takes the oldest item for processing, waiting up to `timeout` (zero: not at all). An
  // item that does not decode as T goes to the dead-letter list and the call throws
  // system_error(error::decode_failed).
  template <class T = std::string>
  boost::asio::awaitable<std::optional<delivery<T>>> receive(std::chrono::milliseconds timeout) {
    auto taken = co_await receive_encoded(timeout);
    if (!taken) co_return std::nullopt;
    std::exception_ptr failure;
    std::optional<T> value;
    try {
      value.emplace(decode_item<T>(taken->second));
    } catch (const boost::system::system_error&) {
      failure = std::current_exception();
    }
    if (failure) {
      co_await dead_letter(taken->first, "decode_failed");
      std::rethrow_exception(failure);
    }
    co_return delivery<T>(*this, std::move(taken->first), std::move(*value));
  }

  // Settle a delivery by id (what delivery's members call).
  boost::asio::awaitable<bool> ack(std::string_view delivery_id);
  boost::asio::awaitable<bool> nack(std::string_view delivery_id);
  boost::asio::awaitable<bool> dead_letter(std::string_view delivery_id, std::string_view reason);

  // Puts back at the head of the queue every in-flight item whose visibility deadline has
  // passed and every item in the processing list of a consumer that stopped receiving;
  // returns how many.
  boost::asio::awaitable<std::int64_t> recover();
  // Runs recover() every `interval` in the background until stop_recovery() or destruction.
  void start_recovery(std::chrono::milliseconds interval);
  void stop_recovery();

  boost::asio::awaitable<std::int64_t> length();
  boost::asio::awaitable<std::int64_t> in_flight();  // received, not yet settled

  // Items start..end (inclusive, 0 = oldest) without removing them; at most peek_limit.
  // Throws system_error(error::invalid_argument) for a negative start or end < start.
  template <class T = std::string>
  boost::asio::awaitable<std::vector<T>> peek(std::int64_t start, std::int64_t end) {
    auto items = co_await peek_encoded(keys_.items, start, end);
    std::vector<T> out;
    out.reserve(items.size());
    for (auto& item : items) out.push_back(decode_item<T>(item));
    co_return out;
  }

  boost::asio::awaitable<queue_pressure> pressure();
  boost::asio::awaitable<queue_counters> counters();
  boost::asio::awaitable<void> reset_counters();
  // Removes the waiting items (not those in flight); returns how many.
  boost::asio::awaitable<std::int64_t> clear();

  boost::asio::awaitable<std::int64_t> dead_letter_length();
  boost::asio::awaitable<std::vector<dead_letter_entry>> peek_dead_letters(std::int64_t start, std::int64_t end);
  boost::asio::awaitable<std::int64_t> clear_dead_letters();

 private:
  boost::asio::awaitable<push_many_result> push_encoded(const std::vector<std::string>& items);
  boost::asio::awaitable<std::optional<std::string>> pop_encoded(std::chrono::milliseconds timeout);
  boost::asio::awaitable<std::optional<std::string>> try_pop_encoded();
  boost::asio::awaitable<std::optional<std::pair<std::string, std::string>>> receive_encoded(
      std::chrono::milliseconds timeout);
  boost::asio::awaitable<std::optional<std::string>> claim(const std::string& delivery_id,
                                                         std::chrono::milliseconds liveness);
  boost::asio::awaitable<bool> settle(std::string_view delivery_id, std::string_view mode, std::string_view reason);
  boost::asio::awaitable<std::vector<std::string>> peek_encoded(const std::string& key, std::int64_t start,
                                                                std::int64_t end);
  boost::asio::awaitable<std::int64_t> list_length(const std::string& key);
  boost::asio::awaitable<std::int64_t> delete_list(const std::string& key);

  [[noreturn]] void throw_full(std::int64_t length) const;
  void note_dropped(std::int64_t n);

  template <class T>
  T decode_item(std::string& text) const {
    if constexpr (std::is_same_v<T, std::string>)
      return std::move(text);
    else
      return detail::decode_for_key<T>(text, "queue", name_);
  }

  template <class T>
  std::optional<T> decode_optional(std::optional<std::string>& text) const {
    if (!text) return std::nullopt;
    return decode_item<T>(*text);
  }

  // Everything recover() needs, copied into the background recovery coroutine.
  struct key_set {
    std::string name, items, dead_letter, stats, in_flight, deadlines, consumers, processing_prefix;
  };
  static boost::asio::awaitable<std::int64_t> recover_with(connection_pool& pool, const key_set& keys);
  static boost::asio::awaitable<void> recovery_loop(connection_pool& pool, key_set keys,
                                                    std::chrono::milliseconds interval,
                                                    const std::atomic<bool>& stopping);
  std::string next_delivery_id();

  connection_pool& pool_;
  std::string name_;
  queue_options options_;
  key_set keys_;
  std::string consumer_, processing_key_;
  std::string delivery_prefix_;  // "<consumer>:<random>:", unique to this queue object
  std::atomic<std::uint64_t> next_delivery_{0};
  std::atomic<std::int64_t> dropped_unreported_{0};
  std::atomic<std::int64_t> last_drop_warning_ns_{0};
  detail::background_task recovery_;
};

template <class T>
boost::asio::awaitable<bool> delivery<T>::ack() {
  co_return co_await queue_->ack(id_);
}

template <class T>
boost::asio::awaitable<bool> delivery<T>::nack() {
  co_return co_await queue_->nack(id_);
}

template <class T>
boost::asio::awaitable<bool> delivery<T>::dead_letter(std::string_view reason) {
  co_return co_await queue_->dead_letter(id_, reason);
}

}  // namespace redcoro
