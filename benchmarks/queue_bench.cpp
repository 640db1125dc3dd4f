// queue throughput against a running redis-server.
//
//   queue_bench --list
//   queue_bench --port P --workload W --concurrency N --requests N [--json]
//
// push-unbounded     push() of 32-byte items to a queue without max_size
// push-reject        push() to a full queue (max_size 10000): every item is refused
// push-dead_letter   push() to a full queue: every push moves the oldest item to the DLQ
// push-drop_oldest   push() to a full queue: every push drops the oldest item
// try_pop            try_pop() (LPOP on the shared connection) from a filled queue
// pop                pop(1 s) from a filled queue (an item waiting comes by LPOP)
// pop-handoff        pop(1 s) by --concurrency consumers from an empty queue that 16
//                    producers fill meanwhile: consumers often block in BLPOP on a lease
// receive_ack        receive(1 s) then ack() from a filled queue; one op is both
#include "bench_common.hpp"

#include <redcoro/queue.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace redcoro;
using namespace std::chrono_literals;

namespace {

const char* const workloads[] = {"push-unbounded", "push-reject", "push-dead_letter", "push-drop_oldest",
                                 "try_pop",        "pop",         "pop-handoff", "receive_ack"};

// What run.sh runs: workload:concurrency:requests.
void print_list() {
  std::puts("push-unbounded:64:200000");
  std::puts("push-reject:64:200000");
  std::puts("push-dead_letter:64:200000");
  std::puts("push-drop_oldest:64:200000");
  std::puts("try_pop:64:200000");
  std::puts("pop:4:50000");
  std::puts("pop-handoff:4:50000");
  std::puts("receive_ack:64:100000");
}

constexpr std::int64_t full_size = 10'000;

queue_options options_for(const std::string& workload) {
  queue_options o;
  if (workload == "push-reject" || workload == "push-dead_letter" || workload == "push-drop_oldest") {
    o.max_size = full_size;
    o.policy = workload == "push-reject"        ? overflow_policy::reject
               : workload == "push-dead_letter" ? overflow_policy::dead_letter
                                                : overflow_policy::drop_oldest;
  }
  return o;
}

struct run_state {
  queue* q = nullptr;
  std::string workload;
  long remaining = 0;
  int running = 0;
  std::vector<std::uint32_t>* latencies = nullptr;
  std::uint64_t end_ns = 0;
  double end_cpu = 0;
};

// One operation; false if it found no item (it does not count then).
asio::awaitable<bool> one_op(run_state& st, const std::string& item) {
  if (st.workload.starts_with("push")) {
    co_await st.q->push(item);
    co_return true;
  }
  if (st.workload == "try_pop") co_return (co_await st.q->try_pop()).has_value();
  if (st.workload.starts_with("pop")) co_return (co_await st.q->pop(1s)).has_value();
  auto d = co_await st.q->receive(1s);
  if (!d) co_return false;
  co_await d->ack();
  co_return true;
}

asio::awaitable<void> worker(run_state& st) {
  const std::string item(32, 'v');
  while (st.remaining-- > 0) {
    const auto t0 = st.latencies ? bench::now_ns() : 0;
    if (!co_await one_op(st, item)) {
      ++st.remaining;
      continue;
    }
    if (st.latencies) st.latencies->push_back(static_cast<std::uint32_t>(bench::now_ns() - t0));
  }
  if (--st.running == 0) {
    st.end_ns = bench::now_ns();
    st.end_cpu = bench::cpu_seconds();
  }
}

// Fills the queue with `n` items, 1000 per round trip.
asio::awaitable<void> fill(queue& q, std::int64_t n) {
  const std::vector<std::string> chunk(1000, std::string(32, 'f'));
  for (std::int64_t done = 0; done < n; done += 1000) co_await q.push_many(chunk);
}

struct measured {
  double seconds = 0;
  double cpu_seconds = 0;  // of the timed part only, not of filling the queue
};

measured run_once(const bench::options& opt, std::vector<std::uint32_t>* latencies) {
  asio::io_context ioc(1);
  pool_config pc;
  pc.connection.host = opt.host;
  pc.connection.port = static_cast<std::uint16_t>(opt.port);
  pc.connection.request_timeout = 0ms;
  pc.max_connections = static_cast<std::size_t>(opt.concurrency) + 1;
  connection_pool pool(ioc.get_executor(), pc);
  queue q(pool, "bench", options_for(opt.workload));
  run_state st;
  st.q = &q;
  st.workload = opt.workload;
  st.latencies = latencies;
  st.remaining = opt.requests;
  std::uint64_t start = 0;
  double start_cpu = 0;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        co_await q.clear();
        co_await q.clear_dead_letters();
        co_await pool.execute<ignore_t>(request("DEL", "{bench}:in_flight", "{bench}:deadlines", "{bench}:consumers"));
        if (opt.workload.starts_with("push-") && opt.workload != "push-unbounded") co_await fill(q, full_size);
        const bool handoff = opt.workload == "pop-handoff";
        if (!opt.workload.starts_with("push") && !handoff) co_await fill(q, opt.requests);
        start = bench::now_ns();
        start_cpu = bench::cpu_seconds();
        st.running = opt.concurrency;
        for (int i = 0; i < opt.concurrency; ++i) asio::co_spawn(ioc, worker(st), asio::detached);
        long to_push = handoff ? opt.requests : 0;
        for (int i = 0; i < 16 && handoff; ++i)
          asio::co_spawn(
              ioc,
              [&]() -> asio::awaitable<void> {
                const std::string item(32, 'h');
                while (to_push-- > 0) co_await q.push(item);
              },
              asio::detached);
        while (st.running > 0) {
          asio::steady_timer t(ioc, 1ms);
          co_await t.async_wait(asio::use_awaitable);
        }
        co_await q.clear();
        co_await q.clear_dead_letters();
        co_await pool.close();
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  ioc.run();
  return measured{static_cast<double>(st.end_ns - start) / 1e9, st.end_cpu - start_cpu};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--list") == 0) {
    print_list();
    return 0;
  }
  const auto opt = bench::parse_options(argc, argv);
  bool known = false;
  for (const char* w : workloads) known = known || opt.workload == w;
  if (!known) {
    std::fprintf(stderr, "unknown workload %s\n", opt.workload.c_str());
    return 2;
  }
  run_once(opt, nullptr);
  const auto timed = run_once(opt, nullptr);
  std::vector<std::uint32_t> latencies;
  latencies.reserve(static_cast<std::size_t>(opt.requests));
  run_once(opt, &latencies);
  bench::print_result(opt, "redcoro queue", static_cast<double>(opt.requests) / timed.seconds,
                      timed.cpu_seconds * 1e6 / static_cast<double>(opt.requests), latencies);
}
