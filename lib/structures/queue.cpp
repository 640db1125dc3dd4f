#include <redcoro/queue.hpp>

#include <redcoro/logger.hpp>
#include <redcoro/script.hpp>
#include <redcoro/transaction.hpp>

#include "keyed_op.hpp"
#include "random_token.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/parse.hpp>

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <tuple>

namespace redcoro {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

// Shared by the scripts that write dead-letter entries; they all pass the queue's name as
// ARGV[3] and the time as ARGV[4].
constexpr std::string_view wrap_lua = R"(
local function wrap(item, reason, policy)
  return cjson.encode({original_queue = ARGV[3], data = item, reason = reason, policy = policy, time = ARGV[4]})
end
)";

// Server time in milliseconds, for visibility and liveness deadlines: one clock for every client.
constexpr std::string_view now_lua = R"(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
)";

std::string lua(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto p : parts) out += p;
  return out;
}

// KEYS: items, dead letter, stats. ARGV: max_size, policy, queue name, time, items...
// Returns {accepted, rejected, length, dropped, moved to dead letter}.
const script push_script{lua({wrap_lua, R"(
local max = tonumber(ARGV[1])
local policy = ARGV[2]
local n = #ARGV - 4
local len = redis.call('LLEN', KEYS[1])
local accepted = n
if max > 0 and policy == 'reject' then accepted = math.max(0, math.min(n, max - len)) end
local i = 5
while i < 5 + accepted do
  local last = math.min(i + 999, 4 + accepted)
  len = redis.call('RPUSH', KEYS[1], unpack(ARGV, i, last))
  i = last + 1
end
local dropped, moved = 0, 0
if max > 0 and len > max and policy ~= 'reject' then
  local over = len - max
  if policy == 'dead_letter' then
    local reason = 'overflow: max_size ' .. ARGV[1]
    local s = 0
    while s < over do
      local e = math.min(s + 999, over - 1)
      local old = redis.call('LRANGE', KEYS[1], s, e)
      for k = 1, #old do old[k] = wrap(old[k], reason, policy) end
      redis.call('RPUSH', KEYS[2], unpack(old))
      s = e + 1
    end
    moved = over
  else
    dropped = over
  end
  redis.call('LTRIM', KEYS[1], over, -1)
  len = max
end
if accepted > 0 then redis.call('HINCRBY', KEYS[3], 'pushed', accepted) end
if n > accepted then redis.call('HINCRBY', KEYS[3], 'rejected', n - accepted) end
if dropped > 0 then redis.call('HINCRBY', KEYS[3], 'dropped', dropped) end
if moved > 0 then redis.call('HINCRBY', KEYS[3], 'dead_lettered', moved) end
return {accepted, n - accepted, len, dropped, moved}
)"})};

// KEYS: this consumer's processing list, items, in flight, deadlines, consumers.
// ARGV: consumer, delivery id, visibility timeout ms, liveness ms.
// Renews the consumer's liveness, then takes an item that landed in its processing list
// (a BLMOVE whose reply was lost lands one there too) or else the oldest waiting item, and
// records it in flight under the delivery id with its visibility deadline.
const script claim_script{lua({now_lua, R"(
redis.call('ZADD', KEYS[5], 'GT', now + tonumber(ARGV[4]), ARGV[1])
local item = redis.call('LPOP', KEYS[1])
if not item then item = redis.call('LPOP', KEYS[2]) end
if not item then return false end
redis.call('HSET', KEYS[3], ARGV[2], item)
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[3]), ARGV[2])
return item
)"})};

// KEYS: in flight, deadlines, items, dead letter, stats. ARGV: delivery id, mode (ack, nack,
// dead_letter), queue name, time, reason. Returns 1 if the delivery was still in flight.
const script settle_script{lua({wrap_lua, R"(
local item = redis.call('HGET', KEYS[1], ARGV[1])
if not item then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] == 'nack' then
  redis.call('LPUSH', KEYS[3], item)
elseif ARGV[2] == 'dead_letter' then
  redis.call('RPUSH', KEYS[4], wrap(item, ARGV[5], 'consumer'))
  redis.call('HINCRBY', KEYS[5], 'dead_lettered', 1)
end
return 1
)"})};

// KEYS: items, in flight, deadlines, consumers, stats. ARGV: processing key prefix, batch.
// Puts back at the head of the queue, oldest first, the in-flight items past their
// deadline and the processing lists of consumers past their liveness deadline.
// Returns {items put back, 1 if a batch was full and more may remain}.
constexpr std::int64_t recover_batch = 500;
const script recover_script{lua({now_lua, R"(
local batch = tonumber(ARGV[2])
local moved = 0
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, batch)
for i = #expired, 1, -1 do
  local item = redis.call('HGET', KEYS[2], expired[i])
  if item then
    redis.call('LPUSH', KEYS[1], item)
    redis.call('HDEL', KEYS[2], expired[i])
    moved = moved + 1
  end
end
if #expired > 0 then redis.call('ZREM', KEYS[3], unpack(expired)) end
local dead = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, batch)
for _, c in ipairs(dead) do
  while redis.call('LMOVE', ARGV[1] .. c, KEYS[1], 'RIGHT', 'LEFT') do moved = moved + 1 end
  redis.call('ZREM', KEYS[4], c)
end
if moved > 0 then redis.call('HINCRBY', KEYS[5], 'recovered', moved) end
local more = 0
if #expired == batch or #dead == batch then more = 1 end
return {moved, more}
)"})};

[[noreturn]] void invalid(error e, const std::string& what) { throw boost::system::system_error(e, what); }

void check_wait(milliseconds timeout, const char* operation) {
  if (timeout.count() < 0)
    invalid(error::invalid_argument,
            std::string("queue ") + operation + ": the timeout must not be negative, not " +
                std::to_string(timeout.count()) + " ms");
}

// BLPOP/BLMOVE timeouts in seconds with a fraction (Redis 6 and later), to the millisecond.
std::string seconds_text(milliseconds t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld.%03lld", static_cast<long long>(t.count() / 1000),
                static_cast<long long>(t.count() % 1000));
  return buf;
}

std::chrono::steady_clock::time_point deadline_after(milliseconds t) { return std::chrono::steady_clock::now() + t; }

milliseconds remaining_until(std::chrono::steady_clock::time_point deadline) {
  return std::chrono::ceil<milliseconds>(deadline - std::chrono::steady_clock::now());
}

// A blocking command's own timeout: its wait plus the usual allowance for a reply.
void set_blocking_timeout(request& req, const connection_pool& pool, milliseconds wait) {
  const auto allowance = pool.get_config().connection.request_timeout;
  req.set_timeout(allowance.count() > 0 ? wait + allowance : milliseconds(0));
}

std::string current_time() { return detail::format_time(std::chrono::system_clock::now()); }

}  // namespace

std::string_view to_string(overflow_policy p) noexcept {
  switch (p) {
    case overflow_policy::reject: return "reject";
    case overflow_policy::dead_letter: return "dead_letter";
    case overflow_policy::drop_oldest: return "drop_oldest";
  }
  return "unknown";
}

queue::queue(connection_pool& pool, std::string name, queue_options options)
    : pool_(pool), name_(std::move(name)), options_(std::move(options)) {
  auto braces = [](const std::string& s) { return s.find_first_of("{}") != std::string::npos; };
  if (name_.empty() || braces(name_))
    invalid(error::invalid_config, "queue name must be non-empty and hold no '{' or '}': '" + name_ + "'");
  if (options_.dead_letter_name.empty() || braces(options_.dead_letter_name))
    invalid(error::invalid_config, "queue '" + name_ + "': dead_letter_name must be non-empty and hold no '{' or '}'");
  const std::string reserved[] = {"items", "stats", "in_flight", "deadlines", "consumers"};
  for (const auto& r : reserved)
    if (options_.dead_letter_name == r || options_.dead_letter_name.starts_with("processing:"))
      invalid(error::invalid_config,
              "queue '" + name_ + "': dead_letter_name '" + options_.dead_letter_name + "' names one of its own keys");
  if (options_.max_size < 0)
    invalid(error::invalid_config, "queue '" + name_ + "': max_size must not be negative");
  if (!(options_.pressure_threshold > 0 && options_.pressure_threshold <= 1))
    invalid(error::invalid_config, "queue '" + name_ + "': pressure_threshold must be in (0, 1]");
  if (options_.visibility_timeout.count() <= 0)
    invalid(error::invalid_config, "queue '" + name_ + "': visibility_timeout must be positive");
  if (options_.peek_limit <= 0) invalid(error::invalid_config, "queue '" + name_ + "': peek_limit must be positive");

  const std::string tag = "{" + name_ + "}:";
  keys_.name = name_;
  keys_.items = tag + "items";
  keys_.dead_letter = tag + options_.dead_letter_name;
  keys_.stats = tag + "stats";
  keys_.in_flight = tag + "in_flight";
  keys_.deadlines = tag + "deadlines";
  keys_.consumers = tag + "consumers";
  keys_.processing_prefix = tag + "processing:";
  consumer_ = options_.consumer_name.empty() ? detail::random_hex(8) : options_.consumer_name;
  processing_key_ = keys_.processing_prefix + consumer_;
  delivery_prefix_ = consumer_ + ":" + detail::random_hex(8) + ":";
}

queue::~queue() = default;

std::string queue::next_delivery_id() {
  return delivery_prefix_ + std::to_string(next_delivery_.fetch_add(1, std::memory_order_relaxed));
}

// ---------------------------------------------------------------------------------------
// Producing

asio::awaitable<push_many_result> queue::push_encoded(const std::vector<std::string>& items) {
  push_many_result out;
  if (items.empty()) {
    out.length = co_await length();
    co_return out;
  }
  const auto policy = to_string(options_.policy);
  const auto time = current_time();
  auto op = push_script.run<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t>>(
      pool_, 3, keys_.items, keys_.dead_letter, keys_.stats, options_.max_size, policy, name_, time, items);
  std::tie(out.accepted, out.rejected, out.length, out.dropped, out.moved_to_dead_letter) =
      co_await detail::keyed("queue", name_, std::move(op));
  if (out.dropped > 0) note_dropped(out.dropped);
  co_return out;
}

void queue::throw_full(std::int64_t length) const {
  invalid(error::queue_full, "queue '" + name_ + "' is full (" + std::to_string(length) + " of max_size " +
                                 std::to_string(options_.max_size) + ", policy reject): the item was not added");
}

void queue::note_dropped(std::int64_t n) {
  dropped_unreported_.fetch_add(n, std::memory_order_relaxed);
  const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            options_.drop_warning_interval).count();
  auto last = last_drop_warning_ns_.load(std::memory_order_relaxed);
  if (last != 0 && now - last < interval) return;
  if (!last_drop_warning_ns_.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;
  const auto count = dropped_unreported_.exchange(0, std::memory_order_relaxed);
  default_logger()->warn("queue '{}': dropped the {} oldest item(s) since the last warning (policy drop_oldest, "
                         "max_size {})",
                         name_, count, options_.max_size);
}

// ---------------------------------------------------------------------------------------
// Consuming, at most once

asio::awaitable<std::optional<std::string>> queue::try_pop_encoded() {
  request req("LPOP", keys_.items);
  co_return co_await detail::keyed("queue", name_, pool_.execute<std::optional<std::string>>(req));
}

asio::awaitable<std::optional<std::string>> queue::pop_encoded(milliseconds timeout) {
  check_wait(timeout, "pop");
  const auto deadline = deadline_after(timeout);
  // An item already waiting comes over the shared connection; only an empty queue costs a
  // leased connection to block on.
  auto first = co_await try_pop_encoded();
  if (first || timeout.count() == 0) co_return first;
  auto lease = co_await detail::keyed("queue", name_, pool_.acquire());
  const auto wait = remaining_until(deadline);
  if (wait.count() <= 0) co_return co_await try_pop_encoded();
  request req("BLPOP", keys_.items, seconds_text(wait));
  set_blocking_timeout(req, pool_, wait);
  // If this fails or is cancelled after it was sent, the lease goes back dirty and is
  // closed; an item the server popped for it is lost (receive() exists for that).
  auto popped = co_await detail::keyed("queue", name_, lease->execute<std::optional<std::pair<std::string, std::string>>>(req));
  if (!popped) co_return std::nullopt;
  co_return std::move(popped->second);
}

// ---------------------------------------------------------------------------------------
// Consuming, at least once

asio::awaitable<std::optional<std::string>> queue::claim(const std::string& delivery_id, milliseconds liveness) {
  const auto visibility = options_.visibility_timeout.count();
  const auto live = liveness.count();
  auto op = claim_script.run<std::optional<std::string>>(pool_, 5, processing_key_, keys_.items, keys_.in_flight,
                                                         keys_.deadlines, keys_.consumers, consumer_, delivery_id,
                                                         visibility, live);
  co_return co_await detail::keyed("queue", name_, std::move(op));
}

asio::awaitable<std::optional<std::pair<std::string, std::string>>> queue::receive_encoded(milliseconds timeout) {
  check_wait(timeout, "receive");
  const auto deadline = deadline_after(timeout);
  auto id = next_delivery_id();
  // The liveness deadline covers the whole wait: this consumer's processing list is only
  // ever written by its own BLMOVE, which ends before then.
  auto item = co_await claim(id, timeout + options_.visibility_timeout);
  if (item) co_return std::make_pair(std::move(id), std::move(*item));
  if (timeout.count() == 0) co_return std::nullopt;
  auto lease = co_await detail::keyed("queue", name_, pool_.acquire());
  for (;;) {
    const auto wait = remaining_until(deadline);
    if (wait.count() <= 0) co_return std::nullopt;
    request req("BLMOVE", keys_.items, processing_key_, "LEFT", "RIGHT", seconds_text(wait));
    set_blocking_timeout(req, pool_, wait);
    // A lost reply leaves the item in the processing list: the next claim of this consumer
    // takes it, or recover() once the consumer's liveness deadline has passed.
    auto landed = co_await detail::keyed("queue", name_, lease->execute<std::optional<std::string>>(req));
    if (!landed) co_return std::nullopt;
    id = next_delivery_id();
    item = co_await claim(id, wait + options_.visibility_timeout);
    if (item) co_return std::make_pair(std::move(id), std::move(*item));
    // Another receive() of this consumer claimed what landed; wait for the rest of the time.
  }
}

asio::awaitable<bool> queue::settle(std::string_view delivery_id, std::string_view mode, std::string_view reason) {
  const auto time = current_time();
  auto op = settle_script.run<std::int64_t>(pool_, 5, keys_.in_flight, keys_.deadlines, keys_.items,
                                            keys_.dead_letter, keys_.stats, delivery_id, mode, name_, time, reason);
  const auto n = co_await detail::keyed("queue", name_, std::move(op));
  co_return n == 1;
}

asio::awaitable<bool> queue::ack(std::string_view delivery_id) { return settle(delivery_id, "ack", ""); }

asio::awaitable<bool> queue::nack(std::string_view delivery_id) { return settle(delivery_id, "nack", ""); }

asio::awaitable<bool> queue::dead_letter(std::string_view delivery_id, std::string_view reason) {
  return settle(delivery_id, "dead_letter", reason);
}

asio::awaitable<std::int64_t> queue::recover_with(connection_pool& pool, const key_set& keys) {
  std::int64_t total = 0;
  for (;;) {
    auto op = recover_script.run<std::tuple<std::int64_t, std::int64_t>>(
        pool, 5, keys.items, keys.in_flight, keys.deadlines, keys.consumers, keys.stats, keys.processing_prefix,
        recover_batch);
    const auto [moved, more] = co_await detail::keyed("queue", keys.name, std::move(op));
    total += moved;
    if (!more) co_return total;
  }
}

asio::awaitable<std::int64_t> queue::recover() { return recover_with(pool_, keys_); }

asio::awaitable<void> queue::recovery_loop(connection_pool& pool, key_set keys, milliseconds interval,
                                           const std::atomic<bool>& stopping) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(interval);
    co_await timer.async_wait(asio::use_awaitable);
    if (stopping) co_return;
    try {
      const auto n = co_await recover_with(pool, keys);
      if (n > 0) default_logger()->info("queue '{}': recovered {} item(s)", keys.name, n);
    } catch (const boost::system::system_error& e) {
      if (stopping || e.code() == error::cancelled || e.code() == asio::error::operation_aborted) co_return;
      default_logger()->warn("queue '{}': recovery failed: {}", keys.name, e.what());
    }
  }
}

void queue::start_recovery(milliseconds interval) {
  if (interval.count() <= 0)
    invalid(error::invalid_argument, "queue '" + name_ + "': the recovery interval must be positive");
  auto make = [&pool = pool_, keys = keys_, interval](const std::atomic<bool>& stopping) {
    return recovery_loop(pool, keys, interval, stopping);
  };
  recovery_ = detail::background_task(pool_.get_executor(), make);
}

void queue::stop_recovery() { recovery_.stop(); }

// ---------------------------------------------------------------------------------------
// Inspecting

asio::awaitable<std::int64_t> queue::list_length(const std::string& key) {
  request req("LLEN", key);
  co_return co_await detail::keyed("queue", name_, pool_.execute<std::int64_t>(req));
}

asio::awaitable<std::int64_t> queue::delete_list(const std::string& key) {
  transaction tx;
  tx.push("LLEN", key).push("DEL", key);
  auto op = pool_.execute<std::tuple<std::int64_t, ignore_t>>(tx.commit());
  co_return std::get<0>(co_await detail::keyed("queue", name_, std::move(op)));
}

asio::awaitable<std::int64_t> queue::length() { return list_length(keys_.items); }

asio::awaitable<std::int64_t> queue::dead_letter_length() { return list_length(keys_.dead_letter); }

asio::awaitable<std::int64_t> queue::clear() { return delete_list(keys_.items); }

asio::awaitable<std::int64_t> queue::clear_dead_letters() { return delete_list(keys_.dead_letter); }

asio::awaitable<std::int64_t> queue::in_flight() {
  request req("HLEN", keys_.in_flight);
  co_return co_await detail::keyed("queue", name_, pool_.execute<std::int64_t>(req));
}

asio::awaitable<std::vector<std::string>> queue::peek_encoded(const std::string& key, std::int64_t start,
                                                             std::int64_t end) {
  if (start < 0 || end < start)
    invalid(error::invalid_argument, "queue '" + name_ + "' peek: need 0 <= start <= end, not " +
                                         std::to_string(start) + ".." + std::to_string(end));
  if (end - start >= options_.peek_limit)
    invalid(error::invalid_argument, "queue '" + name_ + "' peek: " + std::to_string(end - start + 1) +
                                         " items asked, more than peek_limit " +
                                         std::to_string(options_.peek_limit));
  request req("LRANGE", key, start, end);
  co_return co_await detail::keyed("queue", name_, pool_.execute<std::vector<std::string>>(req));
}

asio::awaitable<std::vector<dead_letter_entry>> queue::peek_dead_letters(std::int64_t start, std::int64_t end) {
  auto texts = co_await peek_encoded(keys_.dead_letter, start, end);
  std::vector<dead_letter_entry> out;
  out.reserve(texts.size());
  boost::json::parse_options opts;
  opts.allow_invalid_utf8 = true;  // data holds the item's bytes as they were
  for (const auto& text : texts) {
    boost::system::error_code ec;
    auto jv = boost::json::parse(text, ec, {}, opts);
    const auto* obj = ec ? nullptr : jv.if_object();
    auto field = [&](const char* name) -> std::string {
      const auto* v = obj ? obj->if_contains(name) : nullptr;
      if (!v || !v->is_string())
        invalid(error::decode_failed,
                "queue '" + name_ + "': dead-letter entry without a \"" + name + "\" string: " + text.substr(0, 80));
      return std::string(v->get_string());
    };
    dead_letter_entry e;
    e.original_queue = field("original_queue");
    e.data = field("data");
    e.reason = field("reason");
    e.policy = field("policy");
    if (!detail::parse_time(field("time"), e.time))
      invalid(error::decode_failed, "queue '" + name_ + "': dead-letter entry with a bad time: " + text.substr(0, 80));
    out.push_back(std::move(e));
  }
  co_return out;
}

asio::awaitable<queue_pressure> queue::pressure() {
  queue_pressure p;
  p.length = co_await length();
  p.max_size = options_.max_size;
  if (p.max_size > 0) {
    p.fill_ratio = static_cast<double>(p.length) / static_cast<double>(p.max_size);
    p.is_full = p.length >= p.max_size;
    p.above_threshold = p.fill_ratio >= options_.pressure_threshold;
  }
  co_return p;
}

asio::awaitable<queue_counters> queue::counters() {
  request req("HMGET", keys_.stats, "pushed", "rejected", "dropped", "dead_lettered", "recovered");
  const auto v = co_await detail::keyed("queue", name_, pool_.execute<std::vector<std::optional<std::int64_t>>>(req));
  auto at = [&](std::size_t i) { return i < v.size() && v[i] ? *v[i] : 0; };
  queue_counters c;
  c.pushed = at(0);
  c.rejected = at(1);
  c.dropped = at(2);
  c.dead_lettered = at(3);
  c.recovered = at(4);
  co_return c;
}

asio::awaitable<void> queue::reset_counters() {
  request req("DEL", keys_.stats);
  co_await detail::keyed("queue", name_, pool_.execute<ignore_t>(req));
}

}  // namespace redcoro
