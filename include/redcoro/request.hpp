// A request: one or more Redis commands serialized as RESP arrays of bulk strings into a
// single buffer, ready to be written as is. Several commands in one request form a
// pipeline; they are sent together and their replies come back in order.
//
//   redcoro::request req;
//   req.push("SET", "key", 42).push("EXPIRE", "key", 10).push("MGET", keys);
//
// Arguments may be anything string-like, byte buffers (contiguous ranges of char,
// unsigned char or std::byte), integers, floating-point numbers, and ranges of those
// (each element is one argument; a pair or a map entry is two).
#pragma once

#include <chrono>
#include <charconv>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace redcoro {

namespace detail {

template <class T>
concept string_like = std::convertible_to<const T&, std::string_view>;

template <class T>
concept byte_like = std::same_as<T, char> || std::same_as<T, unsigned char> ||
                    std::same_as<T, signed char> || std::same_as<T, std::byte>;

template <class T>
concept byte_buffer = !string_like<T> && std::ranges::contiguous_range<const T&> &&
                      std::ranges::sized_range<const T&> &&
                      byte_like<std::remove_cv_t<std::ranges::range_value_t<const T&>>>;

template <class T>
concept integer_arg = std::integral<T> && !std::same_as<T, bool> && !byte_like<T> &&
                      !std::same_as<T, wchar_t> && !std::same_as<T, char8_t> &&
                      !std::same_as<T, char16_t> && !std::same_as<T, char32_t>;

template <class T>
concept pair_like = requires(const T& p) {
  p.first;
  p.second;
};

template <class T>
concept scalar_arg = string_like<T> || byte_buffer<T> || integer_arg<T> || std::floating_point<T>;

template <class T>
concept range_arg = !scalar_arg<T> && std::ranges::input_range<const T&>;

template <class T>
constexpr bool always_false = false;

}  // namespace detail

class request {
 public:
  request() = default;

  template <class... Args>
  explicit request(std::string_view command, const Args&... args) {
    push(command, args...);
  }

  // Appends one command.
  template <class... Args>
  request& push(std::string_view command, const Args&... args) {
    if constexpr ((detail::scalar_arg<Args> && ...)) {
      // The common case: every argument is one bulk string, so the command is sized and
      // written in one pass (numbers are formatted on the stack first).
      push_scalars(command, std::index_sequence_for<Args...>{}, args...);
    } else {
      append_header('*', 1 + (count(args) + ... + 0));
      append_bulk(command);
      (append(args), ...);
    }
    note_command(command);
    return *this;
  }

  // Number of commands, and of replies the server will send for them (subscribe-family
  // commands are answered by push messages, not replies).
  std::size_t commands() const noexcept { return commands_; }
  std::size_t expected_replies() const noexcept { return expected_replies_; }

  // The serialized commands.
  std::string_view payload() const noexcept { return payload_; }
  bool empty() const noexcept { return commands_ == 0; }

  void clear() noexcept;
  void reserve(std::size_t bytes) { payload_.reserve(bytes); }

  // Whether sending the request twice is harmless. By default true only when every
  // command is a read or a plain SET/MSET; mark scripts and other commands explicitly.
  request& set_idempotent(bool value) noexcept {
    idempotent_ = value;
    return *this;
  }
  bool is_idempotent() const;

  // Overrides the connection's request timeout for this request (e.g. for BLPOP).
  request& set_timeout(std::chrono::milliseconds t) noexcept {
    timeout_ = t;
    return *this;
  }
  std::optional<std::chrono::milliseconds> timeout() const noexcept { return timeout_; }

  // Replies at the start that are checked for errors and then dropped, so the result
  // holds only the replies after them (transactions keep only EXEC's reply this way).
  std::size_t skipped_replies() const noexcept { return skipped_replies_; }

  // The size of the largest argument pushed so far (command names included).
  std::size_t largest_argument() const noexcept { return largest_argument_; }

 private:
  friend class transaction;

  template <class T>
  static std::size_t count(const T& arg) {
    if constexpr (detail::scalar_arg<T>) {
      return 1;
    } else if constexpr (detail::range_arg<T>) {
      using element = std::ranges::range_value_t<const T&>;
      constexpr bool flat = detail::scalar_arg<element>;
      constexpr bool flat_pairs = [] {
        if constexpr (detail::pair_like<element>)
          return detail::scalar_arg<std::remove_cvref_t<decltype(std::declval<element>().first)>> &&
                 detail::scalar_arg<std::remove_cvref_t<decltype(std::declval<element>().second)>>;
        else
          return false;
      }();
      if constexpr (flat || flat_pairs) {
        std::size_t n = 0;
        if constexpr (std::ranges::sized_range<const T&>)
          n = std::ranges::size(arg);
        else
          n = static_cast<std::size_t>(std::ranges::distance(arg));
        return flat ? n : 2 * n;
      } else {
        // Nested ranges and pairs holding ranges: each element counts what it expands to.
        std::size_t n = 0;
        for (const auto& e : arg) n += count(e);
        return n;
      }
    } else if constexpr (detail::pair_like<T>) {
      return count(arg.first) + count(arg.second);
    } else {
      static_assert(detail::always_false<T>, "unsupported request argument type");
    }
  }

  template <class T>
  void append(const T& arg) {
    if constexpr (detail::string_like<T>) {
      append_bulk(std::string_view(arg));
    } else if constexpr (detail::byte_buffer<T>) {
      append_bulk(std::string_view(reinterpret_cast<const char*>(std::ranges::data(arg)),
                                   std::ranges::size(arg)));
    } else if constexpr (detail::integer_arg<T>) {
      char buf[24];
      auto res = std::to_chars(buf, buf + sizeof buf, arg);
      append_bulk(std::string_view(buf, static_cast<std::size_t>(res.ptr - buf)));
    } else if constexpr (std::floating_point<T>) {
      append_double(static_cast<double>(arg));
    } else if constexpr (detail::range_arg<T>) {
      for (const auto& element : arg) append(element);
    } else if constexpr (detail::pair_like<T>) {
      append(arg.first);
      append(arg.second);
    }
  }

  template <class... Args, std::size_t... I>
  void push_scalars(std::string_view command, std::index_sequence<I...>, const Args&... args) {
    [[maybe_unused]] char numbers[sizeof...(Args) + 1][32];
    const std::string_view views[] = {command, as_bulk(args, numbers[I])...};
    append_command(views, 1 + sizeof...(Args));
  }

  // One scalar argument as its bytes; numbers are formatted into `buf`.
  template <class T>
  static std::string_view as_bulk(const T& arg, char (&buf)[32]) noexcept {
    if constexpr (detail::string_like<T>) {
      return std::string_view(arg);
    } else if constexpr (detail::byte_buffer<T>) {
      return std::string_view(reinterpret_cast<const char*>(std::ranges::data(arg)), std::ranges::size(arg));
    } else if constexpr (detail::integer_arg<T>) {
      auto res = std::to_chars(buf, buf + sizeof buf, arg);
      return std::string_view(buf, static_cast<std::size_t>(res.ptr - buf));
    } else {
      return format_double(static_cast<double>(arg), buf);
    }
  }

  static std::string_view format_double(double d, char (&buf)[32]) noexcept;
  void append_command(const std::string_view* args, std::size_t n);
  void append_header(char tag, std::size_t n);
  void append_bulk(std::string_view data);
  void append_double(double d);
  void note_command(std::string_view command) noexcept;

  std::string payload_;
  std::size_t commands_ = 0;
  std::size_t expected_replies_ = 0;
  std::size_t skipped_replies_ = 0;
  std::size_t largest_argument_ = 0;
  std::optional<std::chrono::milliseconds> timeout_;
  std::optional<bool> idempotent_;
};

}  // namespace redcoro
