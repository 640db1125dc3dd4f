// Items per second from producer threads to one consumer that takes batches of 500:
// redcoro::circular_buffer (a coroutine awaiting get(500, 500 ms)) next to two baselines,
// asio::experimental::concurrent_channel (a coroutine: async_receive, then try_receive up
// to the batch) and a mutex + condition_variable + std::deque (a consumer thread; producers
// notify only when the batch it waits for is complete). No Redis involved.
//
//   buffer_bench --workload buffer|channel|deque --concurrency PRODUCERS --requests ITEMS [--json]
//   buffer_bench --list      the workloads benchmarks/run.sh runs, as workload:producers:items
//
// Each run moves ITEMS items of 32 bytes; every 64th carries its put time, and the latency
// reported is put -> taken by the consumer (batch filling included). CPU is the process's
// user + system time per item. A warm-up run of a quarter of the items comes first.
#include "bench_common.hpp"

#include <redcoro/circular_buffer.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t batch_size = 500;
constexpr std::size_t capacity = 1 << 20;
constexpr std::uint64_t stamp_every = 64;

struct item {
  std::uint64_t seq = 0;
  std::uint64_t put_ns = 0;  // set on every stamp_every-th item
  std::uint32_t producer = 0;
  double value = 0;
};

// What every workload does around its queue: producer threads released together, the
// consumer's bookkeeping, and the figures.
struct run {
  int producers;
  std::uint64_t items;
  std::vector<std::uint32_t>* latencies;
  std::atomic<bool> go{false};
  std::uint64_t taken = 0;
  std::uint64_t start_ns = 0, end_ns = 0;
  double start_cpu = 0;  // after the queue's construction, which is not measured

  template <class Put>
  std::vector<std::thread> start_producers(Put put) {
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p)
      threads.emplace_back([this, p, put] {
        const std::uint64_t n = items / static_cast<std::uint64_t>(producers) +
                                (static_cast<std::uint64_t>(p) < items % static_cast<std::uint64_t>(producers));
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        for (std::uint64_t i = 0; i < n; ++i) {
          item it;
          it.seq = i;
          it.producer = static_cast<std::uint32_t>(p);
          it.value = static_cast<double>(i);
          if (i % stamp_every == 0) it.put_ns = bench::now_ns();
          put(std::move(it));
        }
      });
    start_cpu = bench::cpu_seconds();
    start_ns = bench::now_ns();
    go.store(true, std::memory_order_release);
    return threads;
  }

  template <class Range>
  void consumed(const Range& batch) {
    const auto now = bench::now_ns();
    for (const item& it : batch)
      if (it.put_ns != 0 && latencies) latencies->push_back(static_cast<std::uint32_t>(now - it.put_ns));
    taken += batch.size();
    end_ns = now;
  }

  static void join(std::vector<std::thread>& threads) {
    for (auto& t : threads) t.join();
  }
};

void with_circular_buffer(run& r) {
  asio::io_context ioc(1);
  redcoro::circular_buffer_options o;
  o.capacity = capacity;
  o.logger = std::make_shared<spdlog::logger>("bench");  // no sink: silent
  redcoro::circular_buffer<item> buffer(ioc.get_executor(), o);
  std::atomic<std::uint64_t> dropped{0};
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        for (;;) {
          // Items dropped by an overflow will not come: the last batch may be short.
          const std::uint64_t left = r.items - r.taken - dropped.load(std::memory_order_relaxed);
          if (left == 0) break;
          const auto batch = co_await buffer.get(left < batch_size ? static_cast<std::size_t>(left) : batch_size, 500ms);
          r.consumed(batch);
        }
      },
      asio::detached);
  auto producers = r.start_producers([&](item it) {
    if (buffer.put(std::move(it)) == redcoro::put_result::dropped_oldest) dropped.fetch_add(1, std::memory_order_relaxed);
  });
  ioc.run();
  run::join(producers);
  if (const auto dropped = buffer.stats().overflow_count)
    std::fprintf(stderr, "circular_buffer: %llu items overflowed\n", static_cast<unsigned long long>(dropped));
}

void with_channel(run& r) {
  asio::io_context ioc(1);
  using channel = asio::experimental::concurrent_channel<void(boost::system::error_code, item)>;
  channel ch(ioc, capacity);
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        std::vector<item> batch;
        batch.reserve(batch_size);
        while (r.taken < r.items) {
          batch.clear();
          auto [ec, first] = co_await ch.async_receive(asio::as_tuple(asio::use_awaitable));
          batch.push_back(first);
          while (batch.size() < batch_size &&
                 ch.try_receive([&](boost::system::error_code, item it) { batch.push_back(it); })) {
          }
          r.consumed(batch);
        }
      },
      asio::detached);
  auto producers = r.start_producers([&ch](item it) {
    while (!ch.try_send(boost::system::error_code(), it)) std::this_thread::yield();
  });
  ioc.run();
  run::join(producers);
}

void with_deque(run& r) {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<item> queue;
  bool waiting = false;
  std::size_t want = batch_size;
  auto producers = r.start_producers([&](item it) {
    std::unique_lock lk(mutex);
    queue.push_back(it);
    const bool wake = waiting && queue.size() >= want;
    lk.unlock();
    if (wake) ready.notify_one();
  });
  std::vector<item> batch;
  batch.reserve(batch_size);
  while (r.taken < r.items) {
    batch.clear();
    {
      std::unique_lock lk(mutex);
      const std::uint64_t left = r.items - r.taken;
      want = left < batch_size ? static_cast<std::size_t>(left) : batch_size;
      waiting = true;
      ready.wait_for(lk, 500ms, [&] { return queue.size() >= want; });
      waiting = false;
      const std::size_t n = std::min(want, queue.size());
      batch.assign(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(n));
      queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(n));
    }
    r.consumed(batch);
  }
  run::join(producers);
}

struct figures {
  double seconds = 0;
  double cpu_seconds = 0;
  std::uint64_t delivered = 0;  // items dropped by an overflow do not count
};

figures measure(const bench::options& o, std::uint64_t items, std::vector<std::uint32_t>* latencies) {
  run r{o.concurrency, items, latencies};
  if (o.workload == "buffer")
    with_circular_buffer(r);
  else if (o.workload == "channel")
    with_channel(r);
  else
    with_deque(r);
  return {static_cast<double>(r.end_ns - r.start_ns) / 1e9, bench::cpu_seconds() - r.start_cpu, r.taken};
}

bench::options parse(int argc, char** argv) {
  bench::options o;
  o.workload = "buffer";
  o.requests = 4'000'000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--json") {
      o.json = true;
    } else if (a == "--list") {
      for (const char* w : {"channel", "deque", "buffer"})
        for (int p : {1, 4}) std::printf("%s:%d:%d\n", w, p, 4'000'000);
      std::exit(0);
    } else if (v && (a == "--workload" || a == "--concurrency" || a == "--requests" || a == "--port" || a == "--host")) {
      if (a == "--workload") o.workload = v;
      if (a == "--concurrency") o.concurrency = std::atoi(v);
      if (a == "--requests") o.requests = std::atol(v);
      ++i;  // --port and --host are accepted for run.sh's sake; no server is involved
    } else {
      std::fprintf(stderr, "usage: %s --workload buffer|channel|deque --concurrency PRODUCERS --requests ITEMS [--json]\n",
                   argv[0]);
      std::exit(2);
    }
  }
  if (o.workload != "buffer" && o.workload != "channel" && o.workload != "deque") {
    std::fprintf(stderr, "unknown workload %s\n", o.workload.c_str());
    std::exit(2);
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const auto o = parse(argc, argv);
  const auto items = static_cast<std::uint64_t>(o.requests);
  measure(o, items / 4, nullptr);
  std::vector<std::uint32_t> latencies;
  latencies.reserve(items / stamp_every + 16);
  const auto f = measure(o, items, &latencies);
  const char* names[] = {"circular_buffer", "concurrent_channel", "mutex+cv+deque"};
  const char* client = o.workload == "buffer" ? names[0] : o.workload == "channel" ? names[1] : names[2];
  const auto delivered = static_cast<double>(f.delivered);
  bench::print_result(o, client, delivered / f.seconds, f.cpu_seconds * 1e6 / delivered, latencies);
}
