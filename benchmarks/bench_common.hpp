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
#include <type_traits>
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

// Heap allocations through operator new so far (benchmarks/alloc_counter.cpp).
std::uint64_t allocation_count() noexcept;

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

// Optional columns: each is printed when it is not negative.
struct extras {
  double allocs_per_op = -1;         // operator new calls per request (alloc_counter.cpp)
  double server_cpu_us_per_op = -1;  // the server's CPU time per request (INFO CPU)
};

inline void print_result(const options& o, const char* client, double ops_per_s, double cpu_us_per_op,
                         std::vector<std::uint32_t>& latencies, extras x = {}) {
  const double p50 = percentile_us(latencies, 0.50);
  const double p99 = percentile_us(latencies, 0.99);
  const double p999 = percentile_us(latencies, 0.999);
  char more[96] = "";
  int used = 0;
  if (x.allocs_per_op >= 0)
    used += std::snprintf(more + used, sizeof more - static_cast<std::size_t>(used),
                          o.json ? ",\"allocs_per_op\":%.3f" : "  allocs %.3f/op", x.allocs_per_op);
  if (x.server_cpu_us_per_op >= 0)
    std::snprintf(more + used, sizeof more - static_cast<std::size_t>(used),
                  o.json ? ",\"server_cpu_us_per_op\":%.3f" : "  server %6.3f us/op", x.server_cpu_us_per_op);
  if (o.json)
    std::printf(
        "{\"workload\":\"%s\",\"client\":\"%s\",\"concurrency\":%d,\"ops_per_s\":%.0f,\"cpu_us_per_op\":%.3f,"
        "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f%s}\n",
        o.workload.c_str(), client, o.concurrency, ops_per_s, cpu_us_per_op, p50, p99, p999, more);
  else
    std::printf("%-4s %-22s c=%-4d %12.0f ops/s  cpu %7.3f us/op  p50 %8.1f us  p99 %8.1f us  p99.9 %8.1f us%s\n",
                o.workload.c_str(), client, o.concurrency, ops_per_s, cpu_us_per_op, p50, p99, p999, more);
}

// One run of a workload: its wall time, and the server's CPU time when measured.
struct measurement {
  double seconds = 0;
  double server_cpu_seconds = -1;
};

// The usual measurement: `run_once(latencies)` runs the whole workload and returns its
// elapsed seconds (a double) or a `measurement`; it is called once to warm up, once for
// throughput, CPU and allocations, and once with every request timed for the latency
// percentiles. Allocations are counted through operator new, so leave them out for clients
// that call malloc directly.
template <class RunOnce>
void measure(const options& o, const char* client, RunOnce run_once, bool count_allocations = true) {
  auto as_measurement = [](auto r) {
    if constexpr (std::is_same_v<decltype(r), measurement>)
      return r;
    else
      return measurement{static_cast<double>(r)};
  };
  run_once(nullptr);
  const auto cpu0 = cpu_seconds();
  const auto allocs0 = allocation_count();
  const measurement timed = as_measurement(run_once(nullptr));
  const double cpu = cpu_seconds() - cpu0;
  const auto allocs = allocation_count() - allocs0;
  std::vector<std::uint32_t> latencies;
  latencies.reserve(static_cast<std::size_t>(o.requests));
  run_once(&latencies);
  const auto n = static_cast<double>(o.requests);
  extras x;
  if (count_allocations) x.allocs_per_op = static_cast<double>(allocs) / n;
  if (timed.server_cpu_seconds >= 0) x.server_cpu_us_per_op = timed.server_cpu_seconds * 1e6 / n;
  print_result(o, client, n / timed.seconds, cpu * 1e6 / n, latencies, x);
}

}  // namespace bench
