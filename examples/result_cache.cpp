// Caching expensive results with redcoro::cache: a slow "database" query behind
// get_or_set, a stampede of 100 concurrent requests that costs one query, invalidation,
// metadata beside a value, batch reads, listing, a failing load, and the statistics.
// Connects to REDIS_URL (or the URL given as argument).
#include <redcoro/cache.hpp>

#include "example_main.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>

#include <iostream>
#include <stdexcept>

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct detection {
  std::string label;
  double confidence = 0;
};

void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const detection& d) {
  jv = {{"label", d.label}, {"confidence", d.confidence}};
}

detection tag_invoke(boost::json::value_to_tag<detection>, const boost::json::value& jv) {
  const auto& o = jv.as_object();
  return {boost::json::value_to<std::string>(o.at("label")), boost::json::value_to<double>(o.at("confidence"))};
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

// The expensive part: a query that takes 150 ms (and fails for camera 13).
class detection_database {
 public:
  asio::awaitable<std::vector<detection>> recent(int camera_id) {
    ++queries_;
    co_await sleep_for(150ms);
    if (camera_id == 13) throw std::runtime_error("database: camera 13 is offline");
    std::vector<detection> found{{"person", 0.97}, {"car", 0.88}};
    if (camera_id % 2) found.push_back({"bicycle", 0.71});
    co_return found;
  }
  int queries() const { return queries_; }

 private:
  int queries_ = 0;
};

class detection_service {
 public:
  detection_service(redcoro::connection_pool& pool, detection_database& db)
      : cache_(pool, redcoro::cache_options{"examples:detections"}), db_(db) {}

  // Cached for 60 s; concurrent callers for one camera share a single query.
  asio::awaitable<std::vector<detection>> recent(int camera_id) {
    auto query = [this, camera_id] { return db_.recent(camera_id); };
    return cache_.get_or_set(key_of(camera_id), 60s, query);
  }

  static std::string key_of(int camera_id) { return "camera:" + std::to_string(camera_id) + ":recent"; }
  redcoro::cache& cache() { return cache_; }

 private:
  redcoro::cache cache_;
  detection_database& db_;
};

asio::awaitable<void> run(redcoro::connection_pool& pool) {
  detection_database db;
  detection_service service(pool, db);
  redcoro::cache& cache = service.cache();
  co_await cache.clear();

  // A stampede: 100 requests for camera 1 at once, while nothing is cached.
  const auto ex = co_await asio::this_coro::executor;
  const auto start = std::chrono::steady_clock::now();
  int done = 0;
  for (int i = 0; i < 100; ++i)
    asio::co_spawn(ex, service.recent(1), [&](std::exception_ptr e, std::vector<detection>) {
      if (e) std::rethrow_exception(e);
      ++done;
    });
  while (done < 100) co_await sleep_for(5ms);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  std::cout << "100 concurrent requests for camera 1: " << db.queries() << " database query in " << ms.count()
            << " ms\n";

  // Now cached: no query.
  const auto cached = co_await service.recent(1);
  std::cout << "again: " << cached.size() << " detections (" << cached[0].label << " "
            << cached[0].confidence << ", ...), still " << db.queries() << " query; TTL left "
            << (co_await cache.ttl(detection_service::key_of(1))).remaining.value_or(0ms).count() << " ms\n";

  // Invalidation: the next request queries again.
  co_await cache.erase(detection_service::key_of(1));
  co_await service.recent(1);
  std::cout << "after erase: " << db.queries() << " queries\n";

  // A failing query reaches every caller and is not cached.
  try {
    co_await service.recent(13);
  } catch (const std::exception& e) {
    std::cout << "camera 13 failed: " << e.what();
  }
  std::cout << " (cached: " << std::boolalpha << co_await cache.exists(detection_service::key_of(13)) << ")\n";

  // Metadata beside a value, written and expiring together.
  const std::vector<detection> manual{{"dog", 0.9}};
  const boost::json::object meta{{"source", "manual review"}, {"reviewer", "ada"}};
  co_await cache.set(detection_service::key_of(7), manual, 5min, meta);
  const auto entry = co_await cache.get_with_metadata<std::vector<detection>>(detection_service::key_of(7));
  std::cout << "camera 7: " << entry->value.size() << " detection, metadata " << boost::json::serialize(entry->metadata)
            << "\n";

  // Batch reads (one MGET) and listing (SCAN, without the prefix).
  co_await service.recent(2);
  const std::vector<std::string> keys{detection_service::key_of(1), detection_service::key_of(2),
                                      detection_service::key_of(3)};
  const auto found = co_await cache.get_many<std::vector<detection>>(keys);
  std::cout << "get_many of cameras 1-3: " << found.size() << " cached\n";
  std::cout << "keys:";
  for (const auto& k : co_await cache.keys("camera:*")) std::cout << " " << k;
  std::cout << "\n";

  const auto s = cache.stats();
  std::cout << "stats: " << s.hits << " hits, " << s.misses << " misses, " << s.sets << " sets, " << s.deletes
            << " deletes, hit rate " << s.hit_rate << "\n";
  std::cout << "clear removed " << co_await cache.clear() << " values\n";
  co_await pool.close();
}

int main(int argc, char** argv) { return run_example("result_cache", argc, argv, run); }
