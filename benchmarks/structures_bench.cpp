// The data structures against a running redis-server, with the server's CPU cost per
// operation (INFO CPU before and after the timed run).
//
//   structures_bench --list
//   structures_bench --port P --workload W --concurrency N --requests N [--json]
//
// w3:        ring_buffer::add of a 121-byte JSON document to one ring of max 1,000 items
//            (MULTI, RPUSH, LTRIM, EXEC: what the library does).
// w3-lua:    the same add as a Lua script run with EVALSHA through the same pool, the
//            alternative the library did not choose; compare the server cost.
// cache-set: cache::set of the document with a 60 s TTL, keys k0..k9999 (MULTI, SET, DEL
//            of the metadata, EXEC).
// cache-set-plain: the same on a cache created without metadata (one SET).
// cache-get: cache::get of those keys (filled before timing).
#include "bench_common.hpp"

#include <redcoro/cache.hpp>
#include <redcoro/ring_buffer.hpp>
#include <redcoro/script.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace asio = boost::asio;
using namespace redcoro;

namespace {

constexpr std::string_view document =
    R"({"sensor_id":"temp-0042","value":23.5,"unit":"celsius","timestamp":"2024-05-01T12:00:00.000000Z","seq":1234567,"ok":true})";
constexpr std::int64_t ring_size = 1000;
constexpr int cache_keys = 10000;

const script add_and_trim{R"(
local n = redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
return math.min(n, tonumber(ARGV[2]))
)"};

struct run_state {
  const bench::options* opt = nullptr;
  connection_pool* pool = nullptr;
  ring_buffer* ring = nullptr;
  cache* store = nullptr;
  cache* plain_store = nullptr;
  long remaining = 0;
  int running = 0;
  std::vector<std::uint32_t>* latencies = nullptr;
  std::uint64_t end_ns = 0;
  double server_cpu_end = 0;

  asio::awaitable<void> worker_done() {
    if (--running > 0) co_return;
    end_ns = bench::now_ns();
    server_cpu_end = bench::server_cpu_seconds(co_await pool->execute<std::string>(request("INFO", "cpu")));
    co_await pool->close();
  }
};

// `op(i)` returns the awaitable of the i-th operation.
template <class Op>
asio::awaitable<void> worker(run_state& st, int id, Op op) {
  for (long i = id; st.remaining > 0; i += st.opt->concurrency) {
    --st.remaining;
    const auto t0 = st.latencies ? bench::now_ns() : 0;
    co_await op(i);
    if (st.latencies) st.latencies->push_back(static_cast<std::uint32_t>(bench::now_ns() - t0));
  }
  co_await st.worker_done();
}

void spawn_worker(asio::io_context& ioc, run_state& st, int id) {
  const std::string& w = st.opt->workload;
  auto key_of = [key = std::string("k")](long i) mutable -> const std::string& {
    key.resize(1);
    key += std::to_string(i % cache_keys);
    return key;
  };
  if (w == "w3") {
    auto add = [&st](long) { return st.ring->add("bench:ring", document); };
    asio::co_spawn(ioc, worker(st, id, add), asio::detached);
  } else if (w == "w3-lua") {
    auto add = [&st](long) { return add_and_trim.run<std::int64_t>(*st.pool, 1, "bench:ring-lua", document, ring_size); };
    asio::co_spawn(ioc, worker(st, id, add), asio::detached);
  } else if (w == "cache-set" || w == "cache-set-plain") {
    cache* target = w == "cache-set" ? st.store : st.plain_store;
    auto set = [target, key_of](long i) mutable { return target->set(key_of(i), document, std::chrono::seconds(60)); };
    asio::co_spawn(ioc, worker(st, id, set), asio::detached);
  } else {
    auto get = [&st, key_of](long i) mutable { return st.store->get(key_of(i)); };
    asio::co_spawn(ioc, worker(st, id, get), asio::detached);
  }
}

bench::measurement run_once(const bench::options& opt, std::vector<std::uint32_t>* latencies) {
  asio::io_context ioc(1);
  pool_config pc;
  pc.connection.host = opt.host;
  pc.connection.port = static_cast<std::uint16_t>(opt.port);
  pc.connection.request_timeout = std::chrono::milliseconds(0);
  connection_pool pool(ioc.get_executor(), pc);
  ring_buffer ring(pool, ring_size);
  cache store(pool, cache_options{"bench"});
  cache plain_store(pool, cache_options{"bench-plain", false});
  run_state st;
  st.opt = &opt;
  st.pool = &pool;
  st.ring = &ring;
  st.store = &store;
  st.plain_store = &plain_store;
  st.latencies = latencies;
  st.remaining = opt.requests;
  std::uint64_t start = 0;
  double server_cpu_start = 0;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        co_await pool.execute<ignore_t>(request("DEL", "bench:ring", "bench:ring-lua"));
        if (opt.workload == "cache-get") {
          std::map<std::string, std::string_view> items;
          for (int i = 0; i < cache_keys; ++i) items.emplace(std::string("k").append(std::to_string(i)), document);
          co_await store.set_many(items);
        }
        server_cpu_start = bench::server_cpu_seconds(co_await pool.execute<std::string>(request("INFO", "cpu")));
        start = bench::now_ns();
        st.running = opt.concurrency;
        for (int i = 0; i < opt.concurrency; ++i) spawn_worker(ioc, st, i);
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  ioc.run();
  return {static_cast<double>(st.end_ns - start) / 1e9, st.server_cpu_end - server_cpu_start};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string_view(argv[1]) == "--list") {
    // workload:concurrency:requests, as benchmarks/run.sh runs them.
    std::puts(
        "w3:1:50000 w3:64:300000 w3-lua:1:50000 w3-lua:64:300000 cache-set:256:300000 cache-set-plain:256:300000 "
        "cache-get:256:300000");
    return 0;
  }
  const auto opt = bench::parse_options(argc, argv);
  if (opt.workload != "w3" && opt.workload != "w3-lua" && opt.workload != "cache-set" &&
      opt.workload != "cache-set-plain" && opt.workload != "cache-get") {
    std::fprintf(stderr, "unknown workload %s\n", opt.workload.c_str());
    return 2;
  }
  bench::measure(opt, "redcoro structures", [&](std::vector<std::uint32_t>* latencies) { return run_once(opt, latencies); });
}
