#include <redcoro/cache.hpp>

#include <boost/asio/append.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <set>

namespace redcoro {

namespace {

// Escapes the glob characters of a literal for SCAN MATCH.
std::string glob_literal(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

cache::cache(connection_pool& pool, cache_options options)
    : pool_(pool), options_(std::move(options)), tag_("{" + options_.prefix + "}") {
  if (options_.prefix.find_first_of("{}") != std::string::npos)
    throw boost::system::system_error(error::invalid_config,
                                      "cache prefix \"" + options_.prefix + "\" must not contain '{' or '}'");
  if (options_.default_ttl && options_.default_ttl->count() <= 0)
    throw boost::system::system_error(error::invalid_config, "cache default_ttl must be positive");
}

std::string cache::value_key(std::string_view key) const {
  std::string k = tag_;
  k += ":v:";
  k += key;
  return k;
}

std::string cache::metadata_key(std::string_view key) const {
  std::string k = tag_;
  k += ":m:";
  k += key;
  return k;
}

std::optional<std::chrono::milliseconds> cache::effective_ttl(std::optional<std::chrono::milliseconds> ttl) const {
  if (ttl && ttl->count() <= 0)
    throw boost::system::system_error(error::invalid_argument,
                                      "cache TTL must be positive, not " + std::to_string(ttl->count()) + " ms");
  return ttl ? ttl : options_.default_ttl;
}

void cache::push_set(transaction& tx, std::string_view key, const std::string& text,
                     std::optional<std::chrono::milliseconds> ttl,
                     const std::optional<boost::json::object>& metadata) const {
  const std::string vkey = value_key(key), mkey = metadata_key(key);
  if (ttl)
    tx.push("SET", vkey, text, "PX", ttl->count());
  else
    tx.push("SET", vkey, text);
  if (!metadata) {
    tx.push("DEL", mkey);
  } else if (ttl) {
    tx.push("SET", mkey, boost::json::serialize(*metadata), "PX", ttl->count());
  } else {
    tx.push("SET", mkey, boost::json::serialize(*metadata));
  }
}

void cache::push_mget(request& req, const std::vector<std::string>& keys) const {
  std::vector<std::string> full;
  full.reserve(keys.size());
  for (const auto& k : keys) full.push_back(value_key(k));
  req.push("MGET", full);
}

void cache::count(bool hit) noexcept {
  (hit ? hits_ : misses_).fetch_add(1, std::memory_order_relaxed);
}

boost::asio::awaitable<bool> cache::remove(std::string_view key) {
  transaction tx;
  tx.push("DEL", value_key(key)).push("DEL", metadata_key(key));
  auto [values, metadata] = co_await run<std::tuple<std::int64_t, std::int64_t>>(key, tx.commit());
  deletes_.fetch_add(static_cast<std::uint64_t>(values), std::memory_order_relaxed);
  co_return values > 0;
}

boost::asio::awaitable<std::int64_t> cache::remove_many(const std::vector<std::string>& keys) {
  if (keys.empty()) co_return 0;
  std::vector<std::string> values, metadata;
  for (const auto& k : keys) {
    values.push_back(value_key(k));
    metadata.push_back(metadata_key(k));
  }
  transaction tx;
  tx.push("DEL", values).push("DEL", metadata);
  auto [removed, ignored] = co_await run<std::tuple<std::int64_t, std::int64_t>>("(batch)", tx.commit());
  deletes_.fetch_add(static_cast<std::uint64_t>(removed), std::memory_order_relaxed);
  co_return removed;
}

boost::asio::awaitable<bool> cache::exists(std::string_view key) {
  request req("EXISTS", value_key(key));
  co_return co_await run<std::int64_t>(key, req) > 0;
}

boost::asio::awaitable<cache_ttl> cache::ttl(std::string_view key) {
  request req("PTTL", value_key(key));
  const auto ms = co_await run<std::int64_t>(key, req);
  cache_ttl t;
  t.exists = ms != -2;
  if (ms >= 0) t.remaining = std::chrono::milliseconds(ms);
  co_return t;
}

boost::asio::awaitable<bool> cache::expire(std::string_view key, std::chrono::milliseconds ttl) {
  if (ttl.count() <= 0)
    throw boost::system::system_error(error::invalid_argument, "cache TTL must be positive");
  transaction tx;
  tx.push("PEXPIRE", value_key(key), ttl.count()).push("PEXPIRE", metadata_key(key), ttl.count());
  auto [value, metadata] = co_await run<std::tuple<std::int64_t, std::int64_t>>(key, tx.commit());
  co_return value == 1;
}

boost::asio::awaitable<std::vector<std::string>> cache::keys(std::string_view pattern) {
  const std::string prefix = value_key("");
  const std::string match = glob_literal(prefix) + std::string(pattern);
  std::set<std::string> seen;
  std::string cursor = "0";
  do {
    request req("SCAN", cursor, "MATCH", match, "COUNT", 1000);
    auto [next, batch] = co_await run<std::tuple<std::string, std::vector<std::string>>>(pattern, req);
    cursor = std::move(next);
    for (auto& k : batch)
      if (k.starts_with(prefix)) seen.insert(k.substr(prefix.size()));
  } while (cursor != "0");
  co_return std::vector<std::string>(seen.begin(), seen.end());
}

boost::asio::awaitable<std::int64_t> cache::clear() {
  const std::string match = glob_literal(tag_) + ":*";
  const std::string values_prefix = value_key("");
  std::int64_t removed = 0;
  std::string cursor = "0";
  do {
    request req("SCAN", cursor, "MATCH", match, "COUNT", 1000);
    auto [next, batch] = co_await run<std::tuple<std::string, std::vector<std::string>>>("(all)", req);
    cursor = std::move(next);
    if (batch.empty()) continue;
    request unlink("UNLINK", batch);
    co_await run<std::int64_t>("(all)", unlink);
    for (const auto& k : batch)
      if (k.starts_with(values_prefix)) ++removed;
  } while (cursor != "0");
  deletes_.fetch_add(static_cast<std::uint64_t>(removed), std::memory_order_relaxed);
  co_return removed;
}

cache_stats cache::stats() const noexcept {
  cache_stats s;
  s.hits = hits_.load(std::memory_order_relaxed);
  s.misses = misses_.load(std::memory_order_relaxed);
  s.sets = sets_.load(std::memory_order_relaxed);
  s.deletes = deletes_.load(std::memory_order_relaxed);
  const auto lookups = s.hits + s.misses;
  s.hit_rate = lookups ? static_cast<double>(s.hits) / static_cast<double>(lookups) : 0.0;
  return s;
}

std::pair<std::shared_ptr<cache::flight>, bool> cache::join_flight(std::string_view key) {
  std::lock_guard lock(flights_mutex_);
  auto [it, inserted] = flights_.try_emplace(std::string(key));
  if (inserted) it->second = std::make_shared<flight>();
  return {it->second, inserted};
}

boost::asio::awaitable<std::string> cache::wait_for(std::shared_ptr<flight> f) {
  using handler_type = boost::asio::any_completion_handler<void(std::exception_ptr, std::string)>;
  auto initiation = [f, ex = pool_.get_executor()](handler_type h) {
    std::unique_lock lock(f->mutex);
    if (!f->done) {
      f->waiters.push_back(std::move(h));
      return;
    }
    lock.unlock();
    // Landed meanwhile: complete later, never inside the initiating call.
    boost::asio::post(ex, [h = std::move(h), f]() mutable {
      auto hex = boost::asio::get_associated_executor(h);
      boost::asio::dispatch(hex, boost::asio::append(std::move(h), f->failure, f->text));
    });
  };
  std::string text =
      co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(std::exception_ptr, std::string)>(
          initiation, boost::asio::use_awaitable);
  co_return text;
}

void cache::land_flight(std::string_view key, const std::shared_ptr<flight>& f, std::exception_ptr failure,
                        const std::string& text) {
  {
    std::lock_guard lock(flights_mutex_);
    flights_.erase(std::string(key));
  }
  std::vector<boost::asio::any_completion_handler<void(std::exception_ptr, std::string)>> waiters;
  {
    std::lock_guard lock(f->mutex);
    f->done = true;
    f->failure = failure;
    f->text = text;
    waiters.swap(f->waiters);
  }
  for (auto& h : waiters) {
    auto ex = boost::asio::get_associated_executor(h);
    boost::asio::dispatch(ex, boost::asio::append(std::move(h), failure, text));
  }
}

}  // namespace redcoro
