#include <redcoro/cache.hpp>

#include <redcoro/detail/keyed_errors.hpp>
#include <redcoro/transaction.hpp>

#include <boost/json/serialize.hpp>

#include <set>
#include <tuple>

namespace redcoro {

namespace {

namespace asio = boost::asio;

// Escapes the glob characters of a literal for SCAN MATCH.
std::string glob_literal(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string concat(std::string_view a, std::string_view b, std::string_view c) {
  std::string out;
  out.reserve(a.size() + b.size() + c.size());
  out.append(a).append(b).append(c);
  return out;
}

// SET key text [PX ttl], on a request or a transaction.
template <class Target>
void push_set(Target& target, std::string_view key, std::string_view text, cache::ttl_type ttl) {
  if (ttl)
    target.push("SET", key, text, "PX", ttl->count());
  else
    target.push("SET", key, text);
}

// What an error concerns: a key of the cache, or a batch operation.
struct subject {
  const std::string* prefix;  // the cache's, which outlives its operations
  std::string key;
  const char* operation = nullptr;

  [[noreturn]] void rethrow(const boost::system::system_error& e) const {
    std::string context = "cache '" + *prefix + "' ";
    if (operation)
      context += operation;
    else
      context += "key '" + key + "'";
    detail::rethrow_with_context(e, context);
  }
};

template <class R>
asio::awaitable<R> run(connection_pool& pool, request req, subject about) {
  try {
    co_return co_await pool.execute<R>(req);
  } catch (const boost::system::system_error& e) {
    about.rethrow(e);
  }
}

template <class R>
asio::awaitable<R> run(connection_pool& pool, transaction tx, subject about) {
  try {
    co_return co_await pool.execute<R>(tx.commit());
  } catch (const boost::system::system_error& e) {
    about.rethrow(e);
  }
}

template <class Req>
asio::awaitable<void> run_write(connection_pool& pool, Req req, subject about, std::atomic<std::uint64_t>& sets,
                                std::uint64_t n) {
  co_await run<ignore_t>(pool, std::move(req), std::move(about));
  sets.fetch_add(n, std::memory_order_relaxed);
}

// The first reply of a transaction, or the only reply of a request.
template <class R, class Req>
asio::awaitable<R> run_first(connection_pool& pool, Req req, subject about) {
  if constexpr (std::is_same_v<Req, transaction>) {
    auto [first, rest] = co_await run<std::tuple<R, ignore_t>>(pool, std::move(req), std::move(about));
    co_return first;
  } else {
    co_return co_await run<R>(pool, std::move(req), std::move(about));
  }
}

// DELs of values (first) and maybe their metadata; counts the values removed.
template <class Req>
asio::awaitable<std::int64_t> run_erase(connection_pool& pool, Req req, subject about,
                                        std::atomic<std::uint64_t>& deletes) {
  const auto values = co_await run_first<std::int64_t>(pool, std::move(req), std::move(about));
  deletes.fetch_add(static_cast<std::uint64_t>(values), std::memory_order_relaxed);
  co_return values;
}

asio::awaitable<bool> existed(asio::awaitable<std::int64_t> erase) {
  co_return co_await std::move(erase) > 0;
}

// For batch operations given no keys.
template <class R>
asio::awaitable<R> nothing() {
  if constexpr (std::is_void_v<R>)
    co_return;
  else
    co_return R{};
}


asio::awaitable<cache_ttl> run_ttl(connection_pool& pool, request req, subject about) {
  const auto ms = co_await run<std::int64_t>(pool, std::move(req), std::move(about));
  cache_ttl t;
  t.exists = ms != -2;  // -2: no such key; -1: no expiry
  if (ms >= 0) t.remaining = std::chrono::milliseconds(ms);
  co_return t;
}

// SCAN MATCH `match` to the end, handing each batch of keys to `each`.
template <class Each>
asio::awaitable<void> scan(connection_pool& pool, const std::string& match, const subject& about, Each& each) {
  std::string cursor = "0";
  do {
    request req("SCAN", cursor, "MATCH", match, "COUNT", 1000);
    auto [next, batch] = co_await run<std::tuple<std::string, std::vector<std::string>>>(pool, std::move(req), about);
    cursor = std::move(next);
    if (!batch.empty()) co_await each(batch);
  } while (cursor != "0");
}

asio::awaitable<std::vector<std::string>> scan_keys(connection_pool& pool, std::string match, std::size_t skip,
                                                    subject about) {
  std::set<std::string> seen;
  auto collect = [&](std::vector<std::string>& batch) -> asio::awaitable<void> {
    for (auto& k : batch) seen.insert(k.substr(skip));
    co_return;
  };
  co_await scan(pool, match, about, collect);
  co_return std::vector<std::string>(seen.begin(), seen.end());
}

asio::awaitable<std::int64_t> scan_and_unlink(connection_pool& pool, std::string match, std::string values_prefix,
                                              subject about, std::atomic<std::uint64_t>& deletes) {
  std::int64_t removed = 0;
  auto unlink = [&](std::vector<std::string>& batch) -> asio::awaitable<void> {
    std::vector<std::string> values, metadata;
    for (auto& k : batch) (k.starts_with(values_prefix) ? values : metadata).push_back(std::move(k));
    // UNLINK's count, not the scanned keys, says what was removed: SCAN may report a key
    // twice, and keys may expire meanwhile.
    request req;
    if (!values.empty()) req.push("UNLINK", values);
    if (!metadata.empty()) req.push("UNLINK", metadata);
    if (values.empty()) {
      co_await run<ignore_t>(pool, std::move(req), about);
    } else if (metadata.empty()) {
      removed += co_await run<std::int64_t>(pool, std::move(req), about);
    } else {
      auto [unlinked, ignored] = co_await run<std::tuple<std::int64_t, ignore_t>>(pool, std::move(req), about);
      removed += unlinked;
    }
  };
  co_await scan(pool, match, about, unlink);
  deletes.fetch_add(static_cast<std::uint64_t>(removed), std::memory_order_relaxed);
  co_return removed;
}

}  // namespace

cache::cache(connection_pool& pool, cache_options options)
    : pool_(pool), options_(std::move(options)), tag_("{" + options_.prefix + "}"), loads_(pool.get_executor()) {
  if (options_.prefix.empty() || options_.prefix.find_first_of("{}") != std::string::npos)
    throw boost::system::system_error(error::invalid_config, "cache prefix \"" + options_.prefix +
                                                                 "\" must be non-empty, without '{' or '}'");
}

std::string cache::value_key(std::string_view key) const { return concat(tag_, ":v:", key); }

std::string cache::metadata_key(std::string_view key) const { return concat(tag_, ":m:", key); }

void cache::check_ttl(ttl_type ttl) {
  if (ttl && ttl->count() <= 0)
    throw boost::system::system_error(error::invalid_argument,
                                      "cache TTL must be positive, not " + std::to_string(ttl->count()) + " ms");
}

void cache::check_metadata() const {
  if (!options_.metadata)
    throw boost::system::system_error(error::invalid_argument,
                                      "cache '" + options_.prefix + "' was created without metadata");
}

void cache::fail(const boost::system::system_error& e, std::string_view key) const {
  subject{&options_.prefix, std::string(key)}.rethrow(e);
}

void cache::fail_batch(const boost::system::system_error& e, std::string_view what) const {
  const std::string op(what);
  subject{&options_.prefix, {}, op.c_str()}.rethrow(e);
}

request cache::mget_request(const std::vector<std::string>& keys) const {
  request req;
  if (keys.empty()) return req;
  std::vector<std::string> full;
  full.reserve(keys.size());
  for (const auto& k : keys) full.push_back(value_key(k));
  req.push("MGET", full);
  return req;
}

asio::awaitable<void> cache::store(std::string_view key, std::string text, ttl_type ttl,
                                   const boost::json::object* metadata) {
  check_ttl(ttl);
  const std::string vkey = value_key(key);
  if (!options_.metadata) {
    if (metadata) check_metadata();
    request req;
    push_set(req, vkey, text, ttl);
    return run_write(pool_, std::move(req), subject{&options_.prefix, std::string(key)}, sets_, 1);
  }
  transaction tx;
  push_set(tx, vkey, text, ttl);
  if (metadata)
    push_set(tx, metadata_key(key), boost::json::serialize(*metadata), ttl);
  else
    tx.push("DEL", metadata_key(key));
  // Replies are ignored and the state after a second run is the same: safe to resend.
  tx.set_idempotent(true);
  return run_write(pool_, std::move(tx), subject{&options_.prefix, std::string(key)}, sets_, 1);
}

asio::awaitable<void> cache::store_many(const std::vector<std::pair<std::string, std::string>>& items, ttl_type ttl) {
  check_ttl(ttl);
  if (items.empty()) return nothing<void>();
  subject about{&options_.prefix, {}, "set_many"};
  std::vector<std::pair<std::string, std::string>> pairs;
  if (!ttl) {
    pairs.reserve(items.size());
    for (const auto& [key, text] : items) pairs.emplace_back(value_key(key), text);
    // MSET alone is atomic.
    if (!options_.metadata) return run_write(pool_, request("MSET", pairs), std::move(about), sets_, items.size());
  }
  transaction tx;
  if (!ttl)
    tx.push("MSET", pairs);
  else
    for (const auto& [key, text] : items) push_set(tx, value_key(key), text, ttl);
  if (options_.metadata) {
    std::vector<std::string> metadata;
    metadata.reserve(items.size());
    for (const auto& item : items) metadata.push_back(metadata_key(item.first));
    tx.push("DEL", metadata);
  }
  tx.set_idempotent(true);
  return run_write(pool_, std::move(tx), std::move(about), sets_, items.size());
}

asio::awaitable<bool> cache::erase(std::string_view key) {
  subject about{&options_.prefix, std::string(key)};
  if (!options_.metadata) return existed(run_erase(pool_, request("DEL", value_key(key)), std::move(about), deletes_));
  transaction tx;
  tx.push("DEL", value_key(key)).push("DEL", metadata_key(key));
  return existed(run_erase(pool_, std::move(tx), std::move(about), deletes_));
}

asio::awaitable<std::int64_t> cache::erase_names(const std::vector<std::string>& keys) {
  if (keys.empty()) return nothing<std::int64_t>();
  subject about{&options_.prefix, {}, "erase_many"};
  std::vector<std::string> values, metadata;
  values.reserve(keys.size());
  for (const auto& k : keys) values.push_back(value_key(k));
  if (!options_.metadata) return run_erase(pool_, request("DEL", values), std::move(about), deletes_);
  metadata.reserve(keys.size());
  for (const auto& k : keys) metadata.push_back(metadata_key(k));
  transaction tx;
  tx.push("DEL", values).push("DEL", metadata);
  return run_erase(pool_, std::move(tx), std::move(about), deletes_);
}

asio::awaitable<bool> cache::exists(std::string_view key) {
  request req("EXISTS", value_key(key));
  return run<bool>(pool_, std::move(req), subject{&options_.prefix, std::string(key)});
}

asio::awaitable<cache_ttl> cache::ttl(std::string_view key) {
  request req("PTTL", value_key(key));
  return run_ttl(pool_, std::move(req), subject{&options_.prefix, std::string(key)});
}

asio::awaitable<bool> cache::expire(std::string_view key, std::chrono::milliseconds ttl) {
  check_ttl(ttl);
  subject about{&options_.prefix, std::string(key)};
  if (!options_.metadata) {
    request req("PEXPIRE", value_key(key), ttl.count());
    req.set_idempotent(true);
    return run_first<bool>(pool_, std::move(req), std::move(about));
  }
  transaction tx;
  tx.push("PEXPIRE", value_key(key), ttl.count()).push("PEXPIRE", metadata_key(key), ttl.count()).set_idempotent(true);
  return run_first<bool>(pool_, std::move(tx), std::move(about));
}

asio::awaitable<std::vector<std::string>> cache::keys(std::string_view pattern) {
  const std::string values = value_key("");
  std::string match = glob_literal(values);
  match += pattern;
  return scan_keys(pool_, std::move(match), values.size(), subject{&options_.prefix, {}, "keys"});
}

asio::awaitable<std::int64_t> cache::clear() {
  std::string match = glob_literal(tag_) + ":[vm]:*";
  return scan_and_unlink(pool_, std::move(match), value_key(""), subject{&options_.prefix, {}, "clear"}, deletes_);
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

}  // namespace redcoro
