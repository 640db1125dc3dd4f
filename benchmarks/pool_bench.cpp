// The connection pool's overhead and scaling against a running redis-server.
//
//   pool_bench --port P --workload w1-pool1|w1-pool2|w1-pool4|lease --concurrency N --requests N [--json]
//
// w1-poolK: W1 (SET then GET of the same key, keys bench:k:<0..9999>, 32-byte values)
//           through a pool of K shared connections; compare with redis_bench's bare W1.
// lease:    acquire and release of an exclusive connection (no command); --requests cycles.
#include "bench_common.hpp"

#include <redcoro/connection_pool.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <charconv>
#include <cstdio>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace redcoro;

namespace {

struct run_state {
  connection_pool* pool = nullptr;
  long remaining = 0;
  int running = 0;
  std::vector<std::uint32_t>* latencies = nullptr;
  std::uint64_t end_ns = 0;

  asio::awaitable<void> worker_done() {
    if (--running > 0) co_return;
    end_ns = bench::now_ns();
    co_await pool->close();
  }
};

asio::awaitable<void> w1_worker(run_state& st, int id, int concurrency) {
  const std::string value(32, 'v');
  char key[32] = "bench:k:";
  request set, get;
  for (long it = 0; st.remaining > 0; ++it) {
    st.remaining -= 2;
    const long k = (id + it * concurrency) % 10000;
    auto res = std::to_chars(key + 8, key + sizeof key, k);
    const std::string_view key_view(key, static_cast<std::size_t>(res.ptr - key));
    set.clear();
    set.push("SET", key_view, value);
    get.clear();
    get.push("GET", key_view);
    const auto t0 = st.latencies ? bench::now_ns() : 0;
    co_await st.pool->execute<ignore_t>(set);
    const auto t1 = st.latencies ? bench::now_ns() : 0;
    auto v = co_await st.pool->execute<std::optional<std::string>>(get);
    (void)v;
    if (st.latencies) {
      st.latencies->push_back(static_cast<std::uint32_t>(t1 - t0));
      st.latencies->push_back(static_cast<std::uint32_t>(bench::now_ns() - t1));
    }
  }
  co_await st.worker_done();
}

asio::awaitable<void> lease_worker(run_state& st) {
  while (st.remaining-- > 0) {
    const auto t0 = st.latencies ? bench::now_ns() : 0;
    auto l = co_await st.pool->acquire();
    l.release();
    if (st.latencies) st.latencies->push_back(static_cast<std::uint32_t>(bench::now_ns() - t0));
  }
  co_await st.worker_done();
}

double run_once(const bench::options& opt, std::vector<std::uint32_t>* latencies) {
  asio::io_context ioc(1);
  pool_config pc;
  pc.connection.host = opt.host;
  pc.connection.port = static_cast<std::uint16_t>(opt.port);
  pc.connection.request_timeout = std::chrono::milliseconds(0);
  const bool lease = opt.workload == "lease";
  pc.shared_connections = lease ? 1 : static_cast<std::size_t>(opt.workload.back() - '0');
  pc.max_connections = pc.shared_connections + 1;
  connection_pool pool(ioc.get_executor(), pc);
  run_state st;
  st.pool = &pool;
  st.latencies = latencies;
  st.remaining = opt.requests;
  std::uint64_t start = 0;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        // Warm every connection up before timing.
        request ping("PING");
        for (std::size_t i = 0; i < 4 * pc.shared_connections; ++i) co_await pool.execute<ignore_t>(ping);
        if (lease) {
          auto l = co_await pool.acquire();
        }
        start = bench::now_ns();
        st.running = lease ? 1 : opt.concurrency;
        if (lease)
          asio::co_spawn(ioc, lease_worker(st), asio::detached);
        else
          for (int i = 0; i < opt.concurrency; ++i) asio::co_spawn(ioc, w1_worker(st, i, opt.concurrency), asio::detached);
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  ioc.run();
  return static_cast<double>(st.end_ns - start) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const auto opt = bench::parse_options(argc, argv);
  if (opt.workload != "lease" && opt.workload != "w1-pool1" && opt.workload != "w1-pool2" &&
      opt.workload != "w1-pool4") {
    std::fprintf(stderr, "unknown workload %s\n", opt.workload.c_str());
    return 2;
  }
  bench::measure(opt, "redcoro pool", [&](std::vector<std::uint32_t>* latencies) { return run_once(opt, latencies); });
}
