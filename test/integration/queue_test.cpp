// queue against real redis-server processes: overflow policies under concurrent producers,
// blocking pops, reliable receive with consumers that die, and lost replies.
#include <redcoro/queue.hpp>

#include "support/async_helpers.hpp"
#include "support/faults.hpp"
#include "support/redis_server.hpp"
#include "support/run_async.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "support/catch.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using redcoro::connection_pool;
using redcoro::error;
using redcoro::overflow_policy;
using redcoro::queue;
using redcoro::queue_options;
using redcoro::request;
using redcoro::test::eventually;
using redcoro::test::failure_of;
using redcoro::test::redis_server;
using redcoro::test::run_async;
using redcoro::test::sleep_for;

namespace cameras {

struct job {
  std::string image_path;
  int camera_id = 0;
};

void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const job& j) {
  jv = {{"image_path", j.image_path}, {"camera_id", j.camera_id}};
}

job tag_invoke(boost::json::value_to_tag<job>, const boost::json::value& jv) {
  const auto& o = jv.as_object();
  return {boost::json::value_to<std::string>(o.at("image_path")), boost::json::value_to<int>(o.at("camera_id"))};
}

}  // namespace cameras

namespace {

redcoro::pool_config settings_for(const redis_server& server) {
  redcoro::pool_config pc;
  pc.connection = server.config();
  pc.connection.request_timeout = 5s;
  pc.max_connections = 12;
  return pc;
}

queue_options bounded(std::int64_t max_size, overflow_policy policy) {
  queue_options o;
  o.max_size = max_size;
  o.policy = policy;
  return o;
}

// What 64 concurrent producers did at a queue's boundary.
struct producer_run {
  std::set<std::string> pushed;            // every id offered
  std::set<std::string> refused;           // ids a push said it did not add
  std::int64_t dropped = 0;                // sum of push results
  std::int64_t moved = 0;
  std::int64_t max_length_seen = 0;        // from push results and a concurrent LLEN monitor
};

// 64 producers push `per_producer` unique ids each, one at a time or in batches of 4.
asio::awaitable<producer_run> run_producers(queue& q, int per_producer, bool batches) {
  producer_run run;
  int running = 64;
  bool monitoring = true;
  asio::co_spawn(
      co_await asio::this_coro::executor,
      [&]() -> asio::awaitable<void> {
        while (monitoring) {
          run.max_length_seen = std::max(run.max_length_seen, co_await q.length());
          co_await sleep_for(1ms);
        }
      },
      asio::detached);
  for (int p = 0; p < 64; ++p) {
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [&, p]() -> asio::awaitable<void> {
          for (int i = 0; i < per_producer;) {
            std::vector<std::string> ids;
            for (int k = 0; k < (batches ? 4 : 1) && i < per_producer; ++k, ++i)
              ids.push_back("p" + std::to_string(p) + "-" + std::to_string(i));
            run.pushed.insert(ids.begin(), ids.end());
            if (batches) {
              const auto r = co_await q.push_many(ids);
              for (auto k = r.accepted; k < r.accepted + r.rejected; ++k) run.refused.insert(ids[static_cast<std::size_t>(k)]);
              run.dropped += r.dropped;
              run.moved += r.moved_to_dead_letter;
              run.max_length_seen = std::max(run.max_length_seen, r.length);
            } else {
              const auto r = co_await q.push(ids[0]);
              if (!r.accepted) run.refused.insert(ids[0]);
              run.dropped += r.dropped;
              run.moved += r.moved_to_dead_letter;
              run.max_length_seen = std::max(run.max_length_seen, r.length);
            }
          }
          --running;
        },
        asio::detached);
  }
  CHECK(co_await eventually([&] { return running == 0; }, 20s));
  monitoring = false;
  co_await sleep_for(5ms);
  co_return run;
}

asio::awaitable<std::vector<std::string>> all_items(connection_pool& pool, const std::string& key) {
  request req("LRANGE", key, 0, -1);
  co_return co_await pool.execute<std::vector<std::string>>(req);
}

}  // namespace

TEST_CASE("a queue stores strings as they are and other types as JSON, and pops them oldest first") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "images");
    const cameras::job first{"/img/1.jpg", 7};
    const auto r = co_await q.push(first);
    CHECK(r.accepted);
    CHECK(r.length == 1);
    co_await q.push(std::string("plain text"));
    CHECK(server.cli({"LINDEX", "{images}:items", "0"}) == R"({"image_path":"/img/1.jpg","camera_id":7})");
    const auto job = co_await q.try_pop<cameras::job>();
    REQUIRE(job.has_value());
    CHECK(job->image_path == "/img/1.jpg");
    CHECK(job->camera_id == 7);
    CHECK(co_await q.try_pop() == std::optional<std::string>("plain text"));
    CHECK_FALSE((co_await q.try_pop()).has_value());
    co_await pool.close();
  });
}

TEST_CASE("reject: 64 concurrent producers never take the queue past max_size, and every refused item is counted") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "jobs", bounded(100, overflow_policy::reject));
    const auto run = co_await run_producers(q, 8, false);
    CHECK(run.pushed.size() == 512);
    CHECK(run.max_length_seen <= 100);
    const auto items = co_await all_items(pool, q.key());
    CHECK(items.size() == 100);
    // Every id is either in the queue or was refused, never both, never twice.
    std::set<std::string> queued(items.begin(), items.end());
    CHECK(queued.size() == items.size());
    for (const auto& id : run.pushed) CHECK(queued.count(id) + run.refused.count(id) == 1);
    const auto c = co_await q.counters();
    CHECK(c.pushed == 100);
    CHECK(c.rejected == 412);
    CHECK(c.dropped == 0);
    CHECK(co_await q.dead_letter_length() == 0);
    co_await pool.close();
  });
}

TEST_CASE("reject: push_or_throw refuses an item of a full queue with queue_full and a clear message") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "jobs", bounded(2, overflow_policy::reject));
    co_await q.push_or_throw(std::string("a"));
    co_await q.push_or_throw(std::string("b"));
    const auto f = co_await failure_of(q.push_or_throw(std::string("c")));
    CHECK(f.code == error::queue_full);
    CHECK_THAT(f.what, Catch::Contains("queue 'jobs' is full (2 of max_size 2, policy reject)"));
    const std::vector<std::string> expected{"a", "b"};
    CHECK(co_await q.peek(0, 9) == expected);
    co_await pool.close();
  });
}

TEST_CASE("dead_letter: 64 concurrent producers lose nothing; the oldest items move to the dead-letter list") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "jobs", bounded(100, overflow_policy::dead_letter));
    const auto run = co_await run_producers(q, 8, false);
    CHECK(run.refused.empty());
    CHECK(run.max_length_seen <= 100);
    CHECK(run.moved == 412);
    const auto items = co_await all_items(pool, q.key());
    CHECK(items.size() == 100);
    const auto dead = co_await q.peek_dead_letters(0, 999);
    CHECK(dead.size() == 412);
    std::map<std::string, int> seen;
    for (const auto& id : items) ++seen[id];
    for (const auto& e : dead) {
      ++seen[e.data];
      CHECK(e.original_queue == "jobs");
      CHECK(e.policy == "dead_letter");
      CHECK(e.reason == "overflow: max_size 100");
      CHECK(std::chrono::system_clock::now() - e.time < 1min);
    }
    // Each of the 512 ids exactly once, in the queue or the dead-letter list.
    CHECK(seen.size() == 512);
    for (const auto& id : run.pushed) CHECK(seen[id] == 1);
    const auto c = co_await q.counters();
    CHECK(c.pushed == 512);
    CHECK(c.dead_lettered == 412);
    co_await pool.close();
  });
}

TEST_CASE("drop_oldest: 64 concurrent producers keep max_size items, and every other item is counted as dropped") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "telemetry", bounded(100, overflow_policy::drop_oldest));
    const auto run = co_await run_producers(q, 8, false);
    CHECK(run.refused.empty());
    CHECK(run.max_length_seen <= 100);
    const auto items = co_await all_items(pool, q.key());
    std::set<std::string> queued(items.begin(), items.end());
    CHECK(items.size() == 100);
    CHECK(queued.size() == 100);
    CHECK(run.dropped == 412);
    const auto c = co_await q.counters();
    CHECK(c.pushed == 512);
    CHECK(c.dropped == 412);
    CHECK(std::int64_t(queued.size()) + c.dropped == std::int64_t(run.pushed.size()));
    CHECK(co_await q.dead_letter_length() == 0);
    co_await pool.close();
  });
}

TEST_CASE("push_many applies each policy at the boundary to batches from 64 concurrent producers") {
  redis_server server;
  const auto policy = GENERATE(overflow_policy::reject, overflow_policy::dead_letter, overflow_policy::drop_oldest);
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "batches", bounded(50, policy));
    const auto run = co_await run_producers(q, 8, true);
    CHECK(run.max_length_seen <= 50);
    const auto items = co_await all_items(pool, q.key());
    CHECK(items.size() == 50);
    std::map<std::string, int> seen;
    for (const auto& id : items) ++seen[id];
    const auto dead = co_await q.peek_dead_letters(0, 999);
    for (const auto& e : dead) ++seen[e.data];
    for (const auto& id : run.refused) ++seen[id];
    // Whatever is in neither place nor refused was dropped, and counted.
    const auto accounted = static_cast<std::int64_t>(seen.size()) + run.dropped;
    CHECK(accounted == 512);
    for (const auto& [id, n] : seen) CHECK(n == 1);
    const auto c = co_await q.counters();
    CHECK(c.pushed + c.rejected == 512);
    CHECK(c.dropped == run.dropped);
    CHECK(c.dead_lettered == run.moved);
    co_await pool.close();
  });
}

TEST_CASE("push_many with reject adds the items that fit and refuses the rest") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "jobs", bounded(3, overflow_policy::reject));
    const std::vector<std::string> batch{"a", "b", "c", "d", "e"};
    const auto r = co_await q.push_many(batch);
    CHECK(r.accepted == 3);
    CHECK(r.rejected == 2);
    CHECK(r.length == 3);
    const std::vector<std::string> expected{"a", "b", "c"};
    CHECK(co_await q.peek(0, 9) == expected);
    co_await pool.close();
  });
}

TEST_CASE("push_many with dead_letter larger than max_size keeps the newest and dead-letters the rest in order") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "jobs", bounded(2, overflow_policy::dead_letter));
    co_await q.push(std::string("old"));
    const std::vector<std::string> batch{"a", "b", "c"};
    const auto r = co_await q.push_many(batch);
    CHECK(r.accepted == 3);
    CHECK(r.moved_to_dead_letter == 2);
    const std::vector<std::string> expected{"b", "c"};
    CHECK(co_await q.peek(0, 9) == expected);
    const auto dead = co_await q.peek_dead_letters(0, 9);
    REQUIRE(dead.size() == 2);
    CHECK(dead[0].data == "old");
    CHECK(dead[1].data == "a");
    co_await pool.close();
  });
}

TEST_CASE("dead-letter entries are JSON that keeps binary items byte for byte") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "blobs", bounded(1, overflow_policy::dead_letter));
    const std::string binary("\x00\xff\"\\/\n\x80 end", 11);
    co_await q.push(binary);
    co_await q.push(std::string("next"));
    const auto dead = co_await q.peek_dead_letters(0, 0);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].value<std::string>() == binary);
    co_await pool.close();
  });
}

TEST_CASE("an unbounded queue is never full and reports no pressure") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "open");
    std::vector<int> many(2000);
    const auto r = co_await q.push_many(many);
    CHECK(r.accepted == 2000);
    const auto p = co_await q.pressure();
    CHECK(p.length == 2000);
    CHECK(p.max_size == 0);
    CHECK(p.fill_ratio == 0);
    CHECK_FALSE(p.is_full);
    CHECK_FALSE(p.above_threshold);
    co_await pool.close();
  });
}

TEST_CASE("pressure reports the fill ratio, the threshold and fullness") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "jobs", bounded(10, overflow_policy::reject));
    const std::vector<int> seven{1, 2, 3, 4, 5, 6, 7};
    co_await q.push_many(seven);
    auto p = co_await q.pressure();
    CHECK(p.fill_ratio == Approx(0.7));
    CHECK_FALSE(p.above_threshold);
    co_await q.push(8);
    p = co_await q.pressure();
    CHECK(p.above_threshold);
    CHECK_FALSE(p.is_full);
    const std::vector<int> more{9, 10};
    co_await q.push_many(more);
    p = co_await q.pressure();
    CHECK(p.is_full);
    CHECK(p.fill_ratio == 1.0);
    CHECK(co_await q.clear() == 10);
    CHECK(co_await q.length() == 0);
    co_await pool.close();
  });
}

TEST_CASE("peek returns an inclusive range, oldest first, and refuses unbounded or inverted ranges") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue_options o;
    o.peek_limit = 100;
    queue q(pool, "jobs", o);
    const std::vector<int> values{10, 11, 12, 13};
    co_await q.push_many(values);
    const std::vector<int> expected{11, 12};
    CHECK(co_await q.peek<int>(1, 2) == expected);
    CHECK(co_await q.peek<int>(0, 99) == values);
    CHECK((co_await failure_of(q.peek(0, 100))).code == error::invalid_argument);
    CHECK((co_await failure_of(q.peek(-1, 3))).code == error::invalid_argument);
    CHECK((co_await failure_of(q.peek(3, 2))).code == error::invalid_argument);
    CHECK(co_await q.length() == 4);
    co_await pool.close();
  });
}

TEST_CASE("pop with a zero timeout does not wait") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "jobs");
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE((co_await q.pop(0ms)).has_value());
    CHECK(std::chrono::steady_clock::now() - start < 500ms);
    co_await q.push(std::string("x"));
    CHECK(co_await q.pop(0ms) == std::optional<std::string>("x"));
    CHECK((co_await failure_of(q.pop(-1ms))).code == error::invalid_argument);
    co_await pool.close();
  });
}

TEST_CASE("pop waits for a sub-second timeout, not one rounded to a second") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "jobs");
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE((co_await q.pop(250ms)).has_value());
    const auto waited = std::chrono::steady_clock::now() - start;
    CHECK(waited >= 250ms);
    CHECK(waited < 950ms);
    co_await pool.close();
  });
}

TEST_CASE("a blocked pop returns an item pushed while it waits") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "jobs");
    std::optional<std::optional<int>> got;
    asio::co_spawn(
        ioc, [&]() -> asio::awaitable<void> { got = co_await q.pop<int>(3s); }, asio::detached);
    co_await sleep_for(100ms);
    co_await q.push(42);
    CHECK(co_await eventually([&] { return got.has_value(); }));
    CHECK(*got == std::optional<int>(42));
    co_await pool.close();
  });
}

TEST_CASE("a pop cancelled while blocked gives up its connection, so it cannot take a later item") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "jobs");
    asio::cancellation_signal cancel;
    std::optional<redcoro::test::failure> cancelled;
    asio::co_spawn(
        ioc, [&]() -> asio::awaitable<void> { cancelled = co_await failure_of(q.pop(5s)); },
        asio::bind_cancellation_slot(cancel.slot(), asio::detached));
    CHECK(co_await eventually([&] { return server.cli({"INFO", "clients"}).find("blocked_clients:1") != std::string::npos; }));
    cancel.emit(asio::cancellation_type::terminal);
    CHECK(co_await eventually([&] { return cancelled.has_value(); }));
    CHECK(cancelled->code == error::cancelled);
    // The blocked connection was closed, not reused: nothing waits on the server any more.
    CHECK(co_await eventually([&] { return server.cli({"INFO", "clients"}).find("blocked_clients:0") != std::string::npos; }));
    co_await q.push(std::string("later"));
    CHECK(co_await q.pop(1s) == std::optional<std::string>("later"));
    co_await pool.close();
  });
}

TEST_CASE("receive then ack removes an item for good") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "jobs");
    const cameras::job j{"/img/2.jpg", 3};
    co_await q.push(j);
    auto d = co_await q.receive<cameras::job>(1s);
    REQUIRE(d.has_value());
    CHECK(d->value().camera_id == 3);
    CHECK(co_await q.length() == 0);
    CHECK(co_await q.in_flight() == 1);
    CHECK(co_await d->ack());
    CHECK(co_await q.in_flight() == 0);
    CHECK_FALSE(co_await d->ack());
    CHECK(co_await q.recover() == 0);
    CHECK(co_await q.length() == 0);
    co_await pool.close();
  });
}

TEST_CASE("receive waits for an item pushed while it blocks, and times out empty") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "jobs");
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE((co_await q.receive(200ms)).has_value());
    CHECK(std::chrono::steady_clock::now() - start >= 200ms);
    CHECK_FALSE((co_await q.receive(0ms)).has_value());
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          co_await sleep_for(100ms);
          co_await q.push(std::string("late"));
        },
        asio::detached);
    auto d = co_await q.receive(3s);
    REQUIRE(d.has_value());
    CHECK(d->value() == "late");
    CHECK(co_await d->ack());
    CHECK(server.cli({"LLEN", q.processing_key()}) == "0");
    co_await pool.close();
  });
}

TEST_CASE("nack puts a received item back at the head of the queue") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "jobs");
    const std::vector<std::string> items{"first", "second"};
    co_await q.push_many(items);
    auto d = co_await q.receive(1s);
    REQUIRE(d.has_value());
    CHECK(d->value() == "first");
    CHECK(co_await d->nack());
    CHECK(co_await q.in_flight() == 0);
    CHECK(co_await q.peek(0, 9) == items);
    auto again = co_await q.receive(1s);
    REQUIRE(again.has_value());
    CHECK(again->value() == "first");
    CHECK(again->id() != d->id());
    CHECK(co_await again->ack());
    co_await pool.close();
  });
}

TEST_CASE("an item left unacknowledged past the visibility timeout is put back by recover()") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue_options o;
    o.visibility_timeout = 200ms;
    queue q(pool, "jobs", o);
    co_await q.push(std::string("slow"));
    auto d = co_await q.receive(1s);
    REQUIRE(d.has_value());
    CHECK(co_await q.recover() == 0);  // still within its visibility timeout
    co_await sleep_for(300ms);
    CHECK(co_await q.recover() == 1);
    CHECK(co_await q.length() == 1);
    CHECK(co_await q.in_flight() == 0);
    // The late ack learns that the item went back; the next receive gets it again.
    CHECK_FALSE(co_await d->ack());
    auto again = co_await q.receive(1s);
    REQUIRE(again.has_value());
    CHECK(again->value() == "slow");
    CHECK(co_await again->ack());
    CHECK((co_await q.counters()).recovered == 1);
    co_await pool.close();
  });
}

TEST_CASE("background recovery puts back the items of a consumer that died after receiving them") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    queue_options o;
    o.visibility_timeout = 300ms;
    const std::vector<std::string> items{"a", "b", "c", "d"};
    {
      // The first consumer takes three items and dies with its pool, acknowledging one.
      connection_pool doomed(ioc.get_executor(), settings_for(server));
      queue q(doomed, "jobs", o);
      co_await q.push_many(items);
      auto d1 = co_await q.receive(1s);
      auto d2 = co_await q.receive(1s);
      auto d3 = co_await q.receive(1s);
      REQUIRE((d1 && d2 && d3));
      CHECK(co_await d2->ack());
      co_await doomed.close();
    }
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "jobs", o);
    q.start_recovery(50ms);
    std::multiset<std::string> processed;
    for (int i = 0; i < 3; ++i) {
      auto d = co_await q.receive(3s);
      REQUIRE(d.has_value());
      processed.insert(d->value());
      CHECK(co_await d->ack());
    }
    q.stop_recovery();
    CHECK(processed == std::multiset<std::string>{"a", "c", "d"});
    CHECK(co_await q.in_flight() == 0);
    CHECK(co_await q.length() == 0);
    co_await pool.close();
  });
}

namespace {

// A consumer on its own io_context, frozen (its io_context no longer run) right after the
// server moved an item into its processing list: the BLMOVE reply is never read, as when
// a consumer crashes at that moment.
struct frozen_consumer {
  asio::io_context ioc;
  connection_pool pool;
  queue q;
  std::optional<std::optional<redcoro::delivery<std::string>>> result;

  frozen_consumer(redis_server& server, queue_options o)
      : pool(ioc.get_executor(), [&] {
          auto pc = settings_for(server);
          pc.connection.request_timeout = 30s;  // its BLMOVE must not time out while frozen
          return pc;
        }()),
        q(pool, "jobs", std::move(o)) {
    asio::co_spawn(ioc, [this]() -> asio::awaitable<void> { result = co_await q.receive(500ms); }, asio::detached);
    while (server.cli({"INFO", "clients"}).find("blocked_clients:1") == std::string::npos) ioc.run_for(10ms);
    server.cli({"RPUSH", "{jobs}:items", "job-1"});
    REQUIRE(server.cli({"LRANGE", q.processing_key(), "0", "-1"}) == "job-1");
  }

  // Lets it run again: it reads the old reply, finds its item gone and returns empty.
  void thaw() {
    ioc.restart();
    while (!result) ioc.run_for(10ms);
    asio::co_spawn(ioc, pool.close(), asio::detached);
    ioc.restart();
    ioc.run_for(2s);
  }
};

}  // namespace

TEST_CASE("an item whose BLMOVE reply never reached a dead consumer is recovered once its liveness runs out") {
  redis_server server;
  queue_options o;
  o.visibility_timeout = 2s;
  o.consumer_name = "a";
  frozen_consumer a(server, o);
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "jobs");
    // "a" counts as alive for its wait (500 ms) plus its visibility timeout.
    CHECK(co_await q.recover() == 0);
    q.start_recovery(50ms);
    CHECK(co_await eventually([&] { return server.cli({"LLEN", "{jobs}:items"}) == "1"; }, 5s));
    CHECK(server.cli({"LLEN", a.q.processing_key()}) == "0");
    auto d = co_await q.receive(1s);
    REQUIRE(d.has_value());
    CHECK(d->value() == "job-1");
    CHECK(co_await d->ack());
    co_await pool.close();
  });
  a.thaw();
  REQUIRE(a.result.has_value());
  CHECK_FALSE(a.result->has_value());
}

TEST_CASE("a restarted consumer that keeps its name takes back the item whose reply it lost") {
  redis_server server;
  queue_options o;
  o.consumer_name = "a";
  frozen_consumer a(server, o);
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "jobs", o);
    auto d = co_await q.receive(0ms);
    REQUIRE(d.has_value());
    CHECK(d->value() == "job-1");
    CHECK(co_await d->ack());
    co_await pool.close();
  });
  a.thaw();
  CHECK_FALSE(a.result->has_value());
}

TEST_CASE("an item that does not decode is moved to the dead-letter list by receive") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "jobs");
    co_await q.push(std::string("not json"));
    const auto f = co_await failure_of(q.receive<cameras::job>(1s));
    CHECK(f.code == error::decode_failed);
    CHECK_THAT(f.what, Catch::Contains("queue 'jobs'"));
    CHECK(co_await q.in_flight() == 0);
    const auto dead = co_await q.peek_dead_letters(0, 9);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].data == "not json");
    CHECK(dead[0].reason == "decode_failed");
    CHECK(dead[0].policy == "consumer");
    co_await pool.close();
  });
}

TEST_CASE("a push whose connection is killed before it runs is not sent again and fails as outcome unknown") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "jobs", bounded(10, overflow_policy::dead_letter));
    co_await q.push(std::string("warm-up"));  // the script is loaded: EVALSHA goes out
    const std::string once = "once";
    const auto f = co_await redcoro::test::failure_with_reply_lost(server, q.push(once));
    CHECK(f.code == error::outcome_unknown);
    CHECK_THAT(f.what, Catch::Contains("queue 'jobs'") && Catch::Contains("not idempotent"));
    const auto items = co_await all_items(pool, q.key());
    CHECK(std::count(items.begin(), items.end(), "once") == 0);
    CHECK((co_await q.counters()).pushed == 1);
    co_await pool.close();
  });
}

TEST_CASE("a push whose reply comes too late runs exactly once, with no retry") {
  redis_server server;
  auto pc = settings_for(server);
  pc.connection.request_timeout = 300ms;
  pc.breaker.threshold = 100;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), pc);
    queue q(pool, "jobs", bounded(10, overflow_policy::drop_oldest));
    co_await q.push(std::string("warm-up"));
    redcoro::connection sleeper(ioc.get_executor(), server.config());
    co_await sleeper.connect();
    request sleep("DEBUG", "SLEEP", "0.8");
    sleep.set_timeout(5s);
    bool slept = false;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          co_await sleeper.execute(sleep);
          slept = true;
        },
        asio::detached);
    co_await sleep_for(100ms);
    const auto f = co_await failure_of(q.push(std::string("late")));
    CHECK(f.code == error::request_timeout);
    CHECK(co_await eventually([&] { return slept; }));
    const auto items = co_await all_items(pool, q.key());
    CHECK(std::count(items.begin(), items.end(), "late") == 1);
    CHECK((co_await q.counters()).pushed == 2);
    co_await pool.close();
  });
}

TEST_CASE("queue operations on a key of another type fail with wrong_type and the server's message") {
  redis_server server;
  run_async([&](asio::io_context& ioc) -> asio::awaitable<void> {
    connection_pool pool(ioc.get_executor(), settings_for(server));
    queue q(pool, "jobs", bounded(5, overflow_policy::dead_letter));
    server.cli({"SET", "{jobs}:items", "a string"});
    const auto push = co_await failure_of(q.push(1));
    CHECK(push.code == error::wrong_type);
    CHECK_THAT(push.what, Catch::Contains("queue 'jobs'") && Catch::Contains("WRONGTYPE"));
    CHECK((co_await failure_of(q.pop(100ms))).code == error::wrong_type);
    CHECK((co_await failure_of(q.try_pop())).code == error::wrong_type);
    CHECK((co_await failure_of(q.receive(0ms))).code == error::wrong_type);
    CHECK((co_await failure_of(q.length())).code == error::wrong_type);
    CHECK(server.cli({"GET", "{jobs}:items"}) == "a string");
    co_await pool.close();
  });
}

TEST_CASE("a queue refuses names and options it cannot honour") {
  redis_server server;
  asio::io_context ioc;
  connection_pool pool(ioc.get_executor(), settings_for(server));
  auto code_of = [&](std::string name, queue_options o) {
    try {
      queue q(pool, std::move(name), std::move(o));
    } catch (const boost::system::system_error& e) {
      return e.code();
    }
    return boost::system::error_code{};
  };
  CHECK(code_of("", {}) == error::invalid_config);
  CHECK(code_of("a{b}", {}) == error::invalid_config);
  CHECK(code_of("ok", bounded(-1, overflow_policy::reject)) == error::invalid_config);
  queue_options o;
  o.dead_letter_name = "items";
  CHECK(code_of("ok", o) == error::invalid_config);
  o = {};
  o.pressure_threshold = 1.5;
  CHECK(code_of("ok", o) == error::invalid_config);
  CHECK_FALSE(code_of("ok", {}));
}

TEST_CASE("a queue is shared safely by producers and consumers running on several threads") {
  redis_server server;
  asio::io_context ioc;
  connection_pool pool(ioc.get_executor(), settings_for(server));
  queue q(pool, "threads", bounded(50, overflow_policy::reject));
  std::atomic<int> pushed{0}, received{0}, running{16};
  std::mutex mutex;
  std::multiset<std::string> seen;
  auto finished = [&]() -> asio::awaitable<void> {
    if (--running > 0) co_return;
    co_await pool.close();
    ioc.stop();
  };
  for (int p = 0; p < 8; ++p)
    asio::co_spawn(
        ioc,
        [&, p]() -> asio::awaitable<void> {
          for (int i = 0; i < 50;) {
            const auto r = co_await q.push("t" + std::to_string(p) + "-" + std::to_string(i));
            if (r.accepted) {
              ++i;
              ++pushed;
            } else {
              co_await sleep_for(1ms);
            }
          }
          co_await finished();
        },
        asio::detached);
  for (int c = 0; c < 8; ++c)
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          while (received < 400) {
            auto d = co_await q.receive(100ms);
            if (!d) continue;
            {
              std::lock_guard<std::mutex> hold(mutex);
              seen.insert(d->value());
            }
            co_await d->ack();
            ++received;
          }
          co_await finished();
        },
        asio::detached);
  std::thread second([&] { ioc.run_for(30s); });
  ioc.run_for(30s);
  second.join();
  CHECK(running == 0);
  CHECK(pushed == 400);
  CHECK(seen.size() == 400);
  CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == 400);
}
