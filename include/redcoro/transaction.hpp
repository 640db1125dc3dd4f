// A MULTI/EXEC transaction: the commands run atomically, and the result is EXEC's reply.
//
//   redcoro::transaction tx;
//   tx.push("INCR", "a").push("INCR", "b");
//   auto [a, b] = co_await conn.execute<std::tuple<std::int64_t, std::int64_t>>(tx.commit());
//
// A command the server refuses while queuing fails the whole request with that error.
// EXEC answers null when a WATCHed key changed; receive std::optional<...> to see that.
// Over a shared connection only plain MULTI/EXEC is safe: WATCH needs an exclusive lease.
#pragma once

#include <redcoro/request.hpp>

#include <stdexcept>
#include <string_view>

namespace redcoro {

class transaction {
 public:
  transaction() { req_.push("MULTI"); }

  template <class... Args>
  transaction& push(std::string_view command, const Args&... args) {
    if (committed_) throw std::logic_error("redcoro::transaction: push() after commit()");
    req_.push(command, args...);
    return *this;
  }

  // The request to execute: MULTI, the commands, EXEC. Later push() calls are an error.
  const request& commit() {
    if (!committed_) {
      req_.skipped_replies_ = req_.commands();
      req_.push("EXEC");
      committed_ = true;
    }
    return req_;
  }

  // Whether running the whole transaction twice is harmless (see request::set_idempotent),
  // so that a pool may send it again after a connection failure.
  transaction& set_idempotent(bool value) noexcept {
    req_.set_idempotent(value);
    return *this;
  }

  std::size_t commands() const noexcept { return req_.commands() - 1 - (committed_ ? 1 : 0); }

  // Makes room for `bytes` of serialized commands, so pushing them allocates once.
  void reserve(std::size_t bytes) { req_.reserve(bytes); }

 private:
  request req_;
  bool committed_ = false;
};

}  // namespace redcoro
