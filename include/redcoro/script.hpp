// A Lua script, run with EVALSHA so only its digest travels, and with EVAL when the server
// does not know it yet (after a restart or SCRIPT FLUSH); either way one atomic step.
//
//   static const redcoro::script add_and_trim{R"(redis.call('RPUSH', KEYS[1], ARGV[1]) ...)"};
//   auto n = co_await add_and_trim.run<std::int64_t>(pool, 1, "{ring}:log", value, max_size);
//
// As with EVAL, `num_keys` says how many of the arguments after it are keys.
//
// Mark a script idempotent when running it twice changes nothing more than running it once;
// only then may a pool send it again after a connection failure.
#pragma once

#include <redcoro/error.hpp>
#include <redcoro/request.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace redcoro {

class script {
 public:
  explicit script(std::string source, bool idempotent = false);

  const std::string& source() const noexcept { return source_; }
  const std::string& sha1() const noexcept { return sha1_; }  // lower-case hex
  bool idempotent() const noexcept { return idempotent_; }

  // Appends EVALSHA (or EVAL) of this script to `req`.
  template <class... Args>
  void push(request& req, std::size_t num_keys, const Args&... keys_and_args) const {
    req.push("EVALSHA", sha1_, num_keys, keys_and_args...);
  }
  template <class... Args>
  void push_eval(request& req, std::size_t num_keys, const Args&... keys_and_args) const {
    req.push("EVAL", source_, num_keys, keys_and_args...);
  }

  // Runs the script on anything with `execute<T>(request)` (a connection_pool, a connection
  // or a lease's connection) and converts its reply to T.
  template <class T, class Target, class... Args>
  boost::asio::awaitable<T> run(Target& target, std::size_t num_keys, const Args&... keys_and_args) const {
    request req;
    push(req, num_keys, keys_and_args...);
    req.set_idempotent(idempotent_);
    try {
      T result = co_await target.template execute<T>(req, boost::asio::use_awaitable);
      co_return result;
    } catch (const boost::system::system_error& e) {
      if (e.code() != error::no_script) throw;
    }
    req.clear();
    push_eval(req, num_keys, keys_and_args...);
    req.set_idempotent(idempotent_);
    T result = co_await target.template execute<T>(req, boost::asio::use_awaitable);
    co_return result;
  }

 private:
  std::string source_;
  std::string sha1_;
  bool idempotent_;
};

}  // namespace redcoro
