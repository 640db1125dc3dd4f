// A first tour: connect from REDIS_URL (or a URL given as argument), SET and GET, typed
// replies, a pipeline, a transaction, and 1,000 coroutines sharing one connection.
#include <redcoro/connection.hpp>
#include <redcoro/transaction.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <iostream>
#include <map>

namespace asio = boost::asio;
using redcoro::request;

asio::awaitable<void> tour(redcoro::connection& conn) {
  co_await conn.connect();
  std::cout << "connected to " << conn.get_config().address() << " (Redis " << conn.server_version() << ", RESP"
            << conn.protocol() << ")\n";

  co_await conn.execute(request("SET", "quick_start:greeting", "hello"));
  const auto greeting = co_await conn.execute<std::string>(request("GET", "quick_start:greeting"));
  const auto missing = co_await conn.execute<std::optional<std::string>>(request("GET", "quick_start:nothing"));
  std::cout << "GET greeting -> " << greeting << "; GET nothing -> " << (missing ? *missing : "(nil)") << "\n";

  const auto visits = co_await conn.execute<std::int64_t>(request("INCRBY", "quick_start:visits", 5));
  std::cout << "INCRBY visits 5 -> " << visits << " (an int64_t)\n";

  // A pipeline: three commands, one write, one typed reply each.
  request pipeline;
  pipeline.push("HSET", "quick_start:user", "name", "Ada", "born", 1815)
      .push("HGET", "quick_start:user", "name")
      .push("HGETALL", "quick_start:user");
  const auto [added, name, user] =
      co_await conn.execute<std::tuple<std::int64_t, std::string, std::map<std::string, std::string>>>(pipeline);
  std::cout << "pipeline -> " << added << " fields added, name " << name << ", " << user.size() << " fields\n";

  // A transaction: MULTI ... EXEC, the result is EXEC's replies.
  redcoro::transaction tx;
  tx.push("INCR", "quick_start:a").push("INCR", "quick_start:b").push("MGET", "quick_start:a", "quick_start:b");
  const auto [a, b, both] = co_await conn.execute<std::tuple<int, int, std::vector<std::string>>>(tx.commit());
  std::cout << "transaction -> a=" << a << " b=" << b << " MGET " << both[0] << "," << both[1] << "\n";

  // A server error reaches the caller with the server's message; the connection goes on.
  try {
    co_await conn.execute(request("LPUSH", "quick_start:greeting", "x"));
  } catch (const boost::system::system_error& e) {
    std::cout << "error, as expected: " << e.what() << "\n";
  }

  // 1,000 coroutines share the connection; their requests are pipelined automatically.
  int done = 0;
  const auto writes_before = conn.stats().writes;
  const auto ex = co_await asio::this_coro::executor;
  for (int i = 0; i < 1000; ++i) {
    asio::co_spawn(
        ex,
        [&conn, &done]() -> asio::awaitable<void> {
          co_await conn.execute(request("INCR", "quick_start:counter"));
          ++done;
        },
        asio::detached);
  }
  asio::steady_timer timer(ex);
  while (done < 1000) {
    timer.expires_after(std::chrono::milliseconds(5));
    co_await timer.async_wait(asio::use_awaitable);
  }
  const auto counter = co_await conn.execute<std::int64_t>(request("GET", "quick_start:counter"));
  std::cout << "1000 coroutines -> counter " << counter << ", in " << conn.stats().writes - writes_before
            << " writes\n";

  request cleanup("DEL", "quick_start:greeting", "quick_start:visits", "quick_start:user", "quick_start:a",
                  "quick_start:b", "quick_start:counter");
  co_await conn.execute(cleanup);
  conn.close();
}

int main(int argc, char** argv) {
  try {
    asio::io_context ioc;
    const auto cfg = argc > 1 ? redcoro::config::from_url(argv[1]) : redcoro::config::from_env();
    redcoro::connection conn(ioc.get_executor(), cfg);
    std::exception_ptr failure;
    asio::co_spawn(ioc, tour(conn), [&](std::exception_ptr e) { failure = e; });
    ioc.run();
    if (failure) std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    std::cerr << "quick_start: " << e.what() << "\n";
    return 1;
  }
}
