// How typed values are stored in Redis: strings and byte buffers as they are, numbers as
// their shortest decimal text, everything else as JSON through Boost.JSON
// (`value_from` / `value_to`), so a user struct works once it has `tag_invoke` overloads.
// `std::chrono::system_clock` time points are stored as ISO 8601 UTC text and durations as
// their tick count, also inside JSON documents.
#pragma once

#include <redcoro/error.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>

#include <charconv>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace redcoro {

namespace detail {

template <class T>
concept text_value = std::same_as<T, std::string> || std::same_as<T, std::string_view>;

template <class T>
concept bytes_value = std::same_as<T, std::vector<char>> ||
                      std::same_as<T, std::vector<unsigned char>> ||
                      std::same_as<T, std::vector<std::byte>>;

template <class T>
concept number_value = (std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, char>) ||
                       std::floating_point<T>;

template <class T>
struct is_system_time_point : std::false_type {};
template <class D>
struct is_system_time_point<std::chrono::time_point<std::chrono::system_clock, D>>
    : std::true_type {};

std::string format_time(std::chrono::system_clock::time_point t);
// Parses what format_time writes, also without fraction and with a "+00:00" offset.
bool parse_time(std::string_view text, std::chrono::system_clock::time_point& out) noexcept;

[[noreturn]] void throw_decode_error(std::string_view expected, std::string_view text,
                                     std::string_view why);

}  // namespace detail

// Appends the stored form of `value` to `out`.
template <class T>
void encode_to(std::string& out, const T& value) {
  if constexpr (detail::text_value<T> || std::convertible_to<const T&, std::string_view>) {
    out.append(std::string_view(value));
  } else if constexpr (detail::bytes_value<T>) {
    out.append(reinterpret_cast<const char*>(value.data()), value.size());
  } else if constexpr (detail::number_value<T>) {
    char buf[32];
    auto res = std::to_chars(buf, buf + sizeof buf, value);
    out.append(buf, static_cast<std::size_t>(res.ptr - buf));
  } else if constexpr (detail::is_system_time_point<T>::value) {
    out.append(detail::format_time(std::chrono::time_point_cast<std::chrono::system_clock::duration>(value)));
  } else {
    out.append(boost::json::serialize(boost::json::value_from(value)));
  }
}

template <class T>
std::string encode(const T& value) {
  std::string out;
  encode_to(out, value);
  return out;
}

// Reads a value written by encode(). Throws system_error(error::decode_failed) naming the
// expected type and quoting the start of the text when it does not decode.
template <class T>
T decode(std::string_view text) {
  static_assert(!std::same_as<T, std::string_view>,
                "redcoro: a decoded std::string_view would dangle; decode to std::string");
  if constexpr (std::same_as<T, std::string>) {
    return std::string(text);
  } else if constexpr (detail::bytes_value<T>) {
    const auto* p = reinterpret_cast<const typename T::value_type*>(text.data());
    return T(p, p + text.size());
  } else if constexpr (detail::number_value<T>) {
    T v{};
    std::string_view t = text;
    if (t.size() > 1 && t.front() == '+' && t[1] != '-') t.remove_prefix(1);
    auto res = std::from_chars(t.data(), t.data() + t.size(), v);
    if (res.ec != std::errc{} || res.ptr != t.data() + t.size() || t.empty())
      detail::throw_decode_error(std::is_floating_point_v<T> ? "number" : "integer", text,
                                 res.ec == std::errc::result_out_of_range ? "out of range" : "not a number");
    return v;
  } else if constexpr (detail::is_system_time_point<T>::value) {
    std::chrono::system_clock::time_point t;
    if (!detail::parse_time(text, t)) detail::throw_decode_error("ISO 8601 time", text, "bad time");
    return std::chrono::time_point_cast<typename T::duration>(t);
  } else {
    boost::system::error_code ec;
    boost::json::value jv = boost::json::parse(text, ec);
    if (ec) detail::throw_decode_error("JSON", text, ec.message());
    auto r = boost::json::try_value_to<T>(jv);
    if (!r) detail::throw_decode_error("JSON of the requested type", text, r.error().message());
    return std::move(*r);
  }
}

}  // namespace redcoro

// Lets Boost.JSON convert std::chrono values nested in user types. They live in
// boost::json because argument-dependent lookup finds neither std nor redcoro there.
namespace boost::json {

template <class Duration>
void tag_invoke(value_from_tag, value& jv,
                const std::chrono::time_point<std::chrono::system_clock, Duration>& t) {
  jv = redcoro::detail::format_time(
      std::chrono::time_point_cast<std::chrono::system_clock::duration>(t));
}

template <class Duration>
result<std::chrono::time_point<std::chrono::system_clock, Duration>> tag_invoke(
    try_value_to_tag<std::chrono::time_point<std::chrono::system_clock, Duration>>,
    const value& jv) {
  std::chrono::system_clock::time_point t;
  if (!jv.is_string() || !redcoro::detail::parse_time(jv.get_string(), t))
    return make_error_code(redcoro::error::decode_failed);
  return std::chrono::time_point_cast<Duration>(t);
}

template <class Rep, class Period>
void tag_invoke(value_from_tag, value& jv, const std::chrono::duration<Rep, Period>& d) {
  jv = d.count();
}

template <class Rep, class Period>
result<std::chrono::duration<Rep, Period>> tag_invoke(
    try_value_to_tag<std::chrono::duration<Rep, Period>>, const value& jv) {
  auto r = try_value_to<Rep>(jv);
  if (!r) return r.error();
  return std::chrono::duration<Rep, Period>(*r);
}

}  // namespace boost::json
