// The same workloads through hiredis (blocking I/O) with manual pipelining: a window of
// `concurrency` operations is appended, then all their replies are read. A reference for
// what a lean C client reaches on this machine.
//
// w1, w4:   see redis_bench.
// w3-multi: a ring add as MULTI, RPUSH, LTRIM (newest 1,000), EXEC of a 121-byte JSON
//           document; w3-lua: the same add as one EVALSHA of a Lua script. With
//           --json they also report the server's CPU per add (INFO CPU around the run).
#include "bench_common.hpp"

#include <hiredis/hiredis.h>

#include <charconv>
#include <cstdio>
#include <string>
#include <vector>

namespace {

const std::string document =
    R"({"sensor_id":"temp-0042","value":23.5,"unit":"celsius","timestamp":"2024-05-01T12:00:00.000000Z","seq":1234567,"ok":true})";
const char* const ring_script = R"(
local n = redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
return math.min(n, tonumber(ARGV[2]))
)";
std::string script_sha;

bool is_w3(const bench::options& o) { return o.workload == "w3-multi" || o.workload == "w3-lua"; }

// Replies the server sends for one operation.
int replies_per_op(const bench::options& o) { return o.workload == "w3-multi" ? 4 : 1; }

// Runs one command (a redisCommand format and its arguments) and returns its reply's
// text; exits on failure.
template <class... Args>
std::string command(redisContext* c, const char* format, Args... args) {
  auto* r = static_cast<redisReply*>(redisCommand(c, format, args...));
  if (!r || r->type == REDIS_REPLY_ERROR) {
    std::fprintf(stderr, "hiredis: %s failed: %s\n", format, r ? r->str : c->errstr);
    std::exit(1);
  }
  std::string text = r->str ? std::string(r->str, r->len) : std::string();
  freeReplyObject(r);
  return text;
}

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
  if (o.workload == "w3-multi") {
    redisAppendCommand(c, "MULTI");
    redisAppendCommand(c, "RPUSH bench:ring %b", document.data(), document.size());
    redisAppendCommand(c, "LTRIM bench:ring -1000 -1");
    redisAppendCommand(c, "EXEC");
    return;
  }
  if (o.workload == "w3-lua") {
    redisAppendCommand(c, "EVALSHA %s 1 bench:ring-lua %b 1000", script_sha.c_str(), document.data(), document.size());
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

bench::measurement run_once(const bench::options& o, std::vector<std::uint32_t>* latencies) {
  redisContext* c = connect_or_die(o);
  const std::string value(32, 'v');
  double server_cpu_start = 0;
  if (is_w3(o)) {
    command(c, "DEL bench:ring bench:ring-lua");
    script_sha = command(c, "SCRIPT LOAD %s", ring_script);
    server_cpu_start = bench::server_cpu_seconds(command(c, "INFO cpu"));
  }
  const int per_op = replies_per_op(o);
  const auto start = bench::now_ns();
  for (long sent = 0; sent < o.requests;) {
    const long window = std::min<long>(o.concurrency, o.requests - sent);
    const auto t0 = bench::now_ns();
    for (long i = 0; i < window; ++i) append(c, o, sent + i, value);
    for (long i = 0; i < window * per_op; ++i) {
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
  bench::measurement m;
  m.seconds = static_cast<double>(bench::now_ns() - start) / 1e9;
  if (is_w3(o)) m.server_cpu_seconds = bench::server_cpu_seconds(command(c, "INFO cpu")) - server_cpu_start;
  redisFree(c);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  const auto opt = bench::parse_options(argc, argv);
  if (opt.workload != "w1" && opt.workload != "w4" && !is_w3(opt)) {
    std::fprintf(stderr, "unknown workload %s\n", opt.workload.c_str());
    return 2;
  }
  bench::measure(opt, "hiredis (pipelined)", [&](std::vector<std::uint32_t>* latencies) { return run_once(opt, latencies); },
                 /*count_allocations=*/false);
}
