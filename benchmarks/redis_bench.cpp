// Client-side throughput and latency of redcoro against a running redis-server.
//
//   redis_bench --port P --workload w1 --concurrency 16 --requests 200000 [--json]
//
// W1: each coroutine repeats SET then GET of the same key (keys bench:k:<0..9999>, 32-byte
//     values) on ONE shared connection; --requests counts commands (SET and GET each one).
// W4: PING round trips from one coroutine.
// Throughput and CPU come from a run without per-request timing; latency percentiles from
// a second run that timestamps every request.
#include "bench_common.hpp"

#include <redcoro/connection.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace redcoro;

namespace {

struct run_state {
  connection* conn = nullptr;
  long remaining_iterations = 0;
  int running = 0;
  std::vector<std::uint32_t>* latencies = nullptr;
  std::uint64_t end_ns = 0;

  void worker_done() {
    if (--running > 0) return;
    end_ns = bench::now_ns();
    conn->close();
  }
};

asio::awaitable<void> w1_worker(connection& conn, int id, int concurrency, run_state& st) {
  const std::string value(32, 'v');
  char key[32] = "bench:k:";
  request set, get;
  for (long it = 0; st.remaining_iterations > 0; ++it) {
    --st.remaining_iterations;
    const long k = (id + it * concurrency) % 10000;
    auto res = std::to_chars(key + 8, key + sizeof key, k);
    const std::string_view key_view(key, static_cast<std::size_t>(res.ptr - key));
    set.clear();
    set.push("SET", key_view, value);
    get.clear();
    get.push("GET", key_view);
    if (st.latencies) {
      auto t0 = bench::now_ns();
      co_await conn.execute<ignore_t>(set);
      auto t1 = bench::now_ns();
      auto v = co_await conn.execute<std::optional<std::string>>(get);
      auto t2 = bench::now_ns();
      st.latencies->push_back(static_cast<std::uint32_t>(t1 - t0));
      st.latencies->push_back(static_cast<std::uint32_t>(t2 - t1));
      (void)v;
    } else {
      co_await conn.execute<ignore_t>(set);
      auto v = co_await conn.execute<std::optional<std::string>>(get);
      (void)v;
    }
  }
  st.worker_done();
}

asio::awaitable<void> w4_worker(connection& conn, run_state& st) {
  request ping("PING");
  while (st.remaining_iterations > 0) {
    --st.remaining_iterations;
    if (st.latencies) {
      auto t0 = bench::now_ns();
      co_await conn.execute<ignore_t>(ping);
      st.latencies->push_back(static_cast<std::uint32_t>(bench::now_ns() - t0));
    } else {
      co_await conn.execute<ignore_t>(ping);
    }
  }
  st.worker_done();
}

// Runs the workload once; returns elapsed seconds.
double run_once(const bench::options& opt, std::vector<std::uint32_t>* latencies) {
  asio::io_context ioc(1);
  config cfg;
  cfg.host = opt.host;
  cfg.port = opt.port;
  cfg.request_timeout = std::chrono::milliseconds(0);
  connection conn(ioc.get_executor(), cfg);
  run_state st;
  st.conn = &conn;
  st.latencies = latencies;
  const bool w1 = opt.workload == "w1";
  st.remaining_iterations = w1 ? opt.requests / 2 : opt.requests;
  std::uint64_t start = 0;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        co_await conn.connect();
        start = bench::now_ns();
        if (w1) {
          st.running = opt.concurrency;
          for (int i = 0; i < opt.concurrency; ++i)
            asio::co_spawn(ioc, w1_worker(conn, i, opt.concurrency, st), asio::detached);
        } else {
          st.running = 1;
          asio::co_spawn(ioc, w4_worker(conn, st), asio::detached);
        }
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
  if (opt.workload != "w1" && opt.workload != "w4") {
    std::fprintf(stderr, "unknown workload %s\n", opt.workload.c_str());
    return 2;
  }
  bench::measure(opt, "redcoro", [&](std::vector<std::uint32_t>* latencies) { return run_once(opt, latencies); });
}
