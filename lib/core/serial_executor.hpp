// The strand all of a connection's (or a pool's) work runs on.
//
// For a plain io_context executor, the most common case, the strand wraps the concrete
// executor type: Asio 1.81's strand over a type-erased executor queries the inner
// executor's blocking property on every dispatch, and any_io_executor answers such
// queries with a heap allocation. Anything else gets a strand over the type-erased
// executor. Copies share the same strand.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <utility>
#include <variant>

namespace redcoro::detail {

class serial_executor {
 public:
  explicit serial_executor(const boost::asio::any_io_executor& ex)
      : strand_(make(ex)), any_(std::visit([](const auto& s) { return boost::asio::any_io_executor(s); }, strand_)) {}

  // The strand, type-erased once, for I/O objects, timers and co_spawn.
  const boost::asio::any_io_executor& get() const noexcept { return any_; }

  bool running_in_this_thread() const noexcept {
    return std::visit([](const auto& s) { return s.running_in_this_thread(); }, strand_);
  }

  template <class Handler>
  void post(Handler&& h) const {
    std::visit([&h](const auto& s) { boost::asio::post(s, std::forward<Handler>(h)); }, strand_);
  }

  template <class Handler>
  void dispatch(Handler&& h) const {
    std::visit([&h](const auto& s) { boost::asio::dispatch(s, std::forward<Handler>(h)); }, strand_);
  }

 private:
  using io_strand = boost::asio::strand<boost::asio::io_context::executor_type>;
  using any_strand = boost::asio::strand<boost::asio::any_io_executor>;

  static std::variant<io_strand, any_strand> make(const boost::asio::any_io_executor& ex) {
    if (const auto* io = ex.target<boost::asio::io_context::executor_type>()) return io_strand(*io);
    return any_strand(ex);
  }

  std::variant<io_strand, any_strand> strand_;
  boost::asio::any_io_executor any_;
};

}  // namespace redcoro::detail
