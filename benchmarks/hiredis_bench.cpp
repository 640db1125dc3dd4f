// The same workloads through hiredis (blocking I/O) with manual pipelining: a window of
// `concurrency` commands is appended, then all its replies are read. A reference for
// what a lean C client reaches on this machine.
#include "bench_common.hpp"

#include <hiredis/hiredis.h>

#include <charconv>
#include <cstdio>
#include <string>
#include <vector>

namespace {

redisContext* connect_or_die(const bench::options& o) {
  redisContext* c = redisConnect(o.host.c_str(), o.port);
  if (!c || c->err) {
    std::fprintf(stderr, "hiredis: cannot connect: %s\n", c ? c->errstr : "allocation failed");
    std::exit(1);
  }
  return c;
}

void append(redisContext* c, const bench::options& o, long command, const std::string& value) {
  if (o.workload == "w4") {
    redisAppendCommand(c, "PING");
    return;
  }
  // W1's command stream: SET k, GET k, SET k', GET k', ...
  char key[32] = "bench:k:";
  const long k = (command / 2) % 10000;
  auto res = std::to_chars(key + 8, key + sizeof key, k);
  const auto key_len = static_cast<std::size_t>(res.ptr - key);
  if (command % 2 == 0)
    redisAppendCommand(c, "SET %b %b", key, key_len, value.data(), value.size());
  else
    redisAppendCommand(c, "GET %b", key, key_len);
}

double run_once(const bench::options& o, std::vector<std::uint32_t>* latencies) {
  redisContext* c = connect_or_die(o);
  const std::string value(32, 'v');
  const auto start = bench::now_ns();
  for (long sent = 0; sent < o.requests;) {
    const long window = std::min<long>(o.concurrency, o.requests - sent);
    const auto t0 = bench::now_ns();
    for (long i = 0; i < window; ++i) append(c, o, sent + i, value);
    for (long i = 0; i < window; ++i) {
      void* reply = nullptr;
      if (redisGetReply(c, &reply) != REDIS_OK) {
        std::fprintf(stderr, "hiredis: %s\n", c->errstr);
        std::exit(1);
      }
      freeReplyObject(reply);
    }
    if (latencies) {
      const auto dt = static_cast<std::uint32_t>(bench::now_ns() - t0);
      for (long i = 0; i < window; ++i) latencies->push_back(dt);
    }
    sent += window;
  }
  const double elapsed = static_cast<double>(bench::now_ns() - start) / 1e9;
  redisFree(c);
  return elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  const auto opt = bench::parse_options(argc, argv);
  bench::measure_and_print(opt, "hiredis (pipelined)",
                           [&](std::vector<std::uint32_t>* latencies) { return run_once(opt, latencies); },
                           /*count_allocations=*/false);
}
