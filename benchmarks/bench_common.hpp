// Command-line options, clocks and result printing shared by the benchmark clients.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace bench {

struct options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string workload = "w1";
  int concurrency = 1;
  long requests = 200000;
  bool json = false;
};

inline options parse_options(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--host") o.host = value();
    else if (a == "--port") o.port = std::atoi(value().c_str());
    else if (a == "--workload") o.workload = value();
    else if (a == "--concurrency") o.concurrency = std::atoi(value().c_str());
    else if (a == "--requests") o.requests = std::atol(value().c_str());
    else if (a == "--json") o.json = true;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      std::exit(2);
    }
  }
  if (o.port <= 0 || o.concurrency <= 0 || o.requests <= 0) {
    std::fprintf(stderr, "usage: %s --port P [--host H] [--workload w1|w4] [--concurrency N] [--requests N] [--json]\n",
                 argv[0]);
    std::exit(2);
  }
  return o;
}

inline std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

// User + system CPU time of this process.
inline double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// The server's CPU time in seconds (user + system), from the text of INFO CPU.
inline double server_cpu_seconds(const std::string& info) {
  double total = 0;
  for (const char* field : {"used_cpu_user:", "used_cpu_sys:"}) {
    const auto pos = info.find(field);
    if (pos != std::string::npos) total += std::atof(info.c_str() + pos + std::strlen(field));
  }
  return total;
}

inline double percentile_us(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1000.0;
}

// `server_cpu_us_per_op` is printed when it is not negative (measured with INFO CPU).
inline void print_result(const options& o, const char* client, double ops_per_s, double cpu_us_per_op,
                         std::vector<std::uint32_t>& latencies, double server_cpu_us_per_op = -1) {
  const double p50 = percentile_us(latencies, 0.50);
  const double p99 = percentile_us(latencies, 0.99);
  const double p999 = percentile_us(latencies, 0.999);
  char server[64] = "";
  if (o.json) {
    if (server_cpu_us_per_op >= 0)
      std::snprintf(server, sizeof server, ",\"server_cpu_us_per_op\":%.3f", server_cpu_us_per_op);
    std::printf(
        "{\"workload\":\"%s\",\"client\":\"%s\",\"concurrency\":%d,\"ops_per_s\":%.0f,\"cpu_us_per_op\":%.3f,"
        "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f%s}\n",
        o.workload.c_str(), client, o.concurrency, ops_per_s, cpu_us_per_op, p50, p99, p999, server);
  } else {
    if (server_cpu_us_per_op >= 0) std::snprintf(server, sizeof server, "  server %6.3f us/op", server_cpu_us_per_op);
    std::printf("%-4s %-22s c=%-4d %12.0f ops/s  cpu %7.3f us/op  p50 %8.1f us  p99 %8.1f us  p99.9 %8.1f us%s\n",
                o.workload.c_str(), client, o.concurrency, ops_per_s, cpu_us_per_op, p50, p99, p999, server);
  }
}

// One run of a workload: its wall time, and the server's CPU time when measured.
struct measurement {
  double seconds = 0;
  double server_cpu_seconds = -1;
};

// Runs `run_once(latencies)` three times, a warm-up, a timed run (wall and client CPU time)
// and one recording latencies, then prints the result.
template <class RunOnce>
void measure(const options& o, const char* client, RunOnce run_once) {
  run_once(nullptr);
  const auto cpu0 = cpu_seconds();
  const measurement timed = run_once(nullptr);
  const double cpu = cpu_seconds() - cpu0;
  std::vector<std::uint32_t> latencies;
  latencies.reserve(static_cast<std::size_t>(o.requests));
  run_once(&latencies);
  const auto n = static_cast<double>(o.requests);
  print_result(o, client, n / timed.seconds, cpu * 1e6 / n, latencies,
               timed.server_cpu_seconds >= 0 ? timed.server_cpu_seconds * 1e6 / n : -1);
}

}  // namespace bench
