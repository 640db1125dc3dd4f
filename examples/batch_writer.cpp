// A polling thread reads tag values from (simulated) PLCs into a circular_buffer; a
// batch_writer takes batches of up to 500 values, at least every 0.5 s, and appends each
// batch to a Redis stream with one pipelined request of XADDs through a connection_pool.
// A batch Redis refuses goes to a JSON-lines file instead. Statistics are printed as it
// runs. The server comes from REDIS_URL (or the first argument).
#include <redcoro/batch_writer.hpp>
#include <redcoro/codec.hpp>
#include <redcoro/connection_pool.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <thread>

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using redcoro::request;

// One reading of one PLC register, as the polling engine produces it.
struct buffered_tag_value {
  std::chrono::system_clock::time_point timestamp;
  std::string plc_code;
  std::string tag_address;
  double tag_value = 0;
  std::string quality = "GOOD";
};

void tag_invoke(json::value_from_tag, json::value& jv, const buffered_tag_value& v) {
  jv = {{"timestamp", json::value_from(v.timestamp)},
        {"plc_code", v.plc_code},
        {"tag_address", v.tag_address},
        {"tag_value", v.tag_value},
        {"quality", v.quality}};
}

buffered_tag_value tag_invoke(json::value_to_tag<buffered_tag_value>, const json::value& jv) {
  const auto& o = jv.as_object();
  buffered_tag_value v;
  v.timestamp = json::value_to<std::chrono::system_clock::time_point>(o.at("timestamp"));
  v.plc_code = json::value_to<std::string>(o.at("plc_code"));
  v.tag_address = json::value_to<std::string>(o.at("tag_address"));
  v.tag_value = json::value_to<double>(o.at("tag_value"));
  v.quality = json::value_to<std::string>(o.at("quality"));
  return v;
}

constexpr const char* stream_key = "batch_writer:tag_values";
constexpr int plcs = 6;
constexpr int tags_per_plc = 50;
constexpr int polls = 25;  // every 80 ms: about 2 s of traffic, 7,500 values
constexpr auto poll_interval = 80ms;

// The polling thread: every poll reads each PLC's tags and puts the values in the buffer.
void poll_plcs(redcoro::circular_buffer<buffered_tag_value>& buffer, std::atomic<bool>& done) {
  for (int poll = 0; poll < polls; ++poll) {
    const auto now = std::chrono::system_clock::now();
    for (int plc = 0; plc < plcs; ++plc)
      for (int tag = 0; tag < tags_per_plc; ++tag) {
        buffered_tag_value v;
        v.timestamp = now;
        v.plc_code = "PLC" + std::to_string(plc + 1);
        v.tag_address = "D" + std::to_string(100 + tag);
        v.tag_value = std::round(1000 * std::sin(poll * 0.1 + tag)) / 10;
        v.quality = (poll + tag) % 97 == 0 ? "BAD" : "GOOD";
        buffer.put(std::move(v));
      }
    std::this_thread::sleep_for(poll_interval);
  }
  done = true;
}

// The sink: the whole batch as one pipelined request of XADDs, one round trip.
asio::awaitable<void> append_to_stream(redcoro::connection_pool& pool, std::span<const buffered_tag_value> batch) {
  request req;
  for (const auto& v : batch)
    req.push("XADD", stream_key, "MAXLEN", "~", 100000, "*", "ts", redcoro::encode(v.timestamp), "plc", v.plc_code,
             "tag", v.tag_address, "value", v.tag_value, "quality", v.quality);
  co_await pool.execute<redcoro::ignore_t>(req);
}

void print(const char* when, const redcoro::circular_buffer_stats& b, const redcoro::batch_writer_stats& w) {
  std::cout << std::left << std::setw(8) << when << std::right << " buffer " << std::setw(4) << b.size << "/"
            << b.capacity << " (" << std::fixed << std::setprecision(1) << b.utilization_pct << "%), added "
            << b.total_added << ", overflowed " << b.overflow_count << " | written " << w.items_written << " in "
            << w.batches_written << " batches, last " << w.last_latency.count() << " us, failures " << w.failures
            << ", to fallback " << w.fallback_items << "\n";
}

asio::awaitable<void> run(redcoro::connection_pool& pool, const std::string& fallback_file) {
  const auto ex = co_await asio::this_coro::executor;
  co_await pool.execute(request("DEL", stream_key));

  redcoro::circular_buffer_options buffer_options;
  buffer_options.name = "tag_values";
  buffer_options = redcoro::circular_buffer_options::from_env(buffer_options);  // REDCORO_BUFFER_MAX_SIZE...
  redcoro::circular_buffer<buffered_tag_value> buffer(ex, buffer_options);

  redcoro::batch_writer_options writer_options;
  writer_options.batch_size = 500;
  writer_options.flush_interval = 500ms;
  auto to_stream = [&pool](std::span<const buffered_tag_value> batch) { return append_to_stream(pool, batch); };
  redcoro::batch_writer<buffered_tag_value> writer(ex, buffer, to_stream, writer_options,
                                                   redcoro::json_lines_file<buffered_tag_value>(fallback_file));
  writer.start();

  std::atomic<bool> polling_done{false};
  std::thread poller(poll_plcs, std::ref(buffer), std::ref(polling_done));
  asio::steady_timer timer(ex);
  for (int tick = 1; !polling_done; ++tick) {
    timer.expires_after(500ms);
    co_await timer.async_wait(asio::use_awaitable);
    print((std::to_string(tick * 500) + " ms").c_str(), buffer.stats(), writer.stats());
  }
  poller.join();  // it has finished: polling_done is its last step

  co_await writer.stop();  // writes what is left in the buffer
  const auto written = writer.stats();
  print("stopped", buffer.stats(), written);

  const auto entries = co_await pool.execute<std::int64_t>(request("XLEN", stream_key));
  using entry = std::tuple<std::string, std::vector<std::string>>;  // id, fields and values
  const auto last = co_await pool.execute<std::vector<entry>>(request("XREVRANGE", stream_key, "+", "-", "COUNT", 1));
  std::cout << "stream " << stream_key << " holds " << entries << " entries (" << written.items_written
            << " written); the last one is " << std::get<0>(last.at(0));
  for (const auto& field : std::get<1>(last.at(0))) std::cout << " " << field;
  std::cout << "\n";
  co_await pool.execute(request("DEL", stream_key));
  co_await pool.close();
  if (static_cast<std::uint64_t>(entries) != written.items_written || written.items_lost != 0)
    throw std::runtime_error("the stream does not hold what the writer wrote");
}

int main(int argc, char** argv) {
  const auto fallback_file =
      (std::filesystem::temp_directory_path() / ("redcoro_batch_writer_" + std::to_string(::getpid()) + ".jsonl"))
          .string();
  try {
    asio::io_context ioc;
    auto cfg = argc > 1 ? redcoro::pool_config::from_url(argv[1]) : redcoro::pool_config::from_env();
    redcoro::connection_pool pool(ioc.get_executor(), cfg);
    std::exception_ptr failure;
    asio::co_spawn(ioc, run(pool, fallback_file), [&](std::exception_ptr e) { failure = e; });
    ioc.run();
    std::filesystem::remove(fallback_file);
    if (failure) std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    std::cerr << "batch_writer: " << e.what() << "\n";
    return 1;
  }
}
