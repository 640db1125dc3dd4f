// A batch-processing queue: camera images queued by a producer that backs off while the
// queue is under pressure, and taken by a consumer that processes them in batches of 10, or
// fewer once the queue has been idle for a while. Every image is received reliably (a
// crash before ack() would put it back) and nothing is lost when the queue overflows: the
// oldest images go to the dead-letter list.
//
//   REDIS_URL=redis://127.0.0.1:6379/0 ./batch_queue
#include <redcoro/queue.hpp>

#include "example_main.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>

#include <iostream>

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct image {
  std::string path;
  int camera_id = 0;
  std::chrono::system_clock::time_point taken;
};

void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const image& i) {
  jv = {{"path", i.path}, {"camera_id", i.camera_id}, {"taken", boost::json::value_from(i.taken)}};
}

image tag_invoke(boost::json::value_to_tag<image>, const boost::json::value& jv) {
  const auto& o = jv.as_object();
  return {boost::json::value_to<std::string>(o.at("path")), boost::json::value_to<int>(o.at("camera_id")),
          boost::json::value_to<std::chrono::system_clock::time_point>(o.at("taken"))};
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

constexpr int images_to_send = 95;

asio::awaitable<void> producer(redcoro::queue& q, bool& done) {
  int backoffs = 0;
  for (int i = 0; i < images_to_send; ++i) {
    // Backpressure: above 80 % full, give the consumer time before adding more.
    while ((co_await q.pressure()).above_threshold) {
      ++backoffs;
      co_await sleep_for(20ms);
    }
    const image img{"/images/cam" + std::to_string(i % 4) + "/" + std::to_string(i) + ".jpg", i % 4,
                    std::chrono::system_clock::now()};
    const auto r = co_await q.push(img);
    if (r.moved_to_dead_letter > 0) std::cout << "producer: queue full, " << r.moved_to_dead_letter << " moved to DLQ\n";
    if (i % 20 == 0) co_await sleep_for(5ms);
  }
  std::cout << "producer: queued " << images_to_send << " images, backed off " << backoffs << " times\n";
  done = true;
}

asio::awaitable<void> process_batch(const std::vector<redcoro::delivery<image>>& batch) {
  std::cout << "consumer: processing a batch of " << batch.size() << " (first " << batch.front().value().path
            << ")\n";
  co_await sleep_for(30ms);  // the detector's work
}

asio::awaitable<int> consumer(redcoro::queue& q, const bool& producer_done) {
  int processed = 0;
  std::vector<redcoro::delivery<image>> batch;
  // The idle timeout is 300 ms here so the example finishes quickly (the seed used 30 s).
  for (;;) {
    auto d = co_await q.receive<image>(300ms);
    if (!d && batch.empty() && producer_done) break;
    if (d) batch.push_back(std::move(*d));
    if (batch.size() >= 10 || (!d && !batch.empty())) {
      co_await process_batch(batch);
      for (auto& item : batch) co_await item.ack();
      processed += static_cast<int>(batch.size());
      batch.clear();
    }
  }
  co_return processed;
}

asio::awaitable<void> run(redcoro::connection_pool& pool) {
  redcoro::queue_options options;
  options.max_size = 40;
  options.policy = redcoro::overflow_policy::dead_letter;
  options.visibility_timeout = 30s;
  redcoro::queue q(pool, "images_to_process", options);
  co_await q.clear();
  co_await q.clear_dead_letters();
  co_await q.reset_counters();

  const auto ex = co_await asio::this_coro::executor;
  bool producer_done = false;
  asio::co_spawn(ex, producer(q, producer_done), asio::detached);
  const int processed = co_await consumer(q, producer_done);

  const auto c = co_await q.counters();
  const auto p = co_await q.pressure();
  const auto in_flight = co_await q.in_flight();
  std::cout << "done: " << processed << " processed; pushed " << c.pushed << ", dead-lettered " << c.dead_lettered
            << ", queue length " << p.length << " (fill " << p.fill_ratio * 100 << " %), in flight " << in_flight
            << "\n";
  co_await q.clear();
  co_await q.clear_dead_letters();
  co_await q.reset_counters();
  co_await pool.close();
}

int main(int argc, char** argv) { return run_example("batch_queue", argc, argv, run); }
