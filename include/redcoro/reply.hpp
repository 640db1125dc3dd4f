// A reply from Redis, and its conversion to C++ types.
//
// `reply` holds any RESP3 value: a scalar or an aggregate of replies. `as<T>()` converts it:
//   - std::string from any string, integer, double or big number;
//   - integers, floating point and bool from numbers and from numeric text;
//   - std::optional<T> (null gives nullopt), sequences, sets, maps (from a map or from a
//     flat key/value array), std::pair and std::tuple from aggregates;
//   - boost::json::value, and any other type through the codec (JSON text, or the
//     aggregate's JSON form), so user types with `tag_invoke` work.
// An error reply converts only to `reply` itself; any other T throws system_error with
// the server's message. A failed conversion throws naming the expected and actual types.
#pragma once

#include <redcoro/codec.hpp>
#include <redcoro/error.hpp>
#include <redcoro/resp3_parser.hpp>

#include <boost/json/value.hpp>

#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace redcoro {

// Placeholder for a reply whose value does not matter (errors still throw).
struct ignore_t {
  friend bool operator==(ignore_t, ignore_t) = default;
};
inline constexpr ignore_t ignore{};

class reply {
 public:
  reply() = default;  // a null reply
  reply(resp3::type t, std::string text = {});
  static reply from_integer(std::int64_t v);
  static reply from_double(double v);
  static reply from_bool(bool v);

  resp3::type type() const noexcept { return type_; }
  bool is_null() const noexcept { return type_ == resp3::type::null; }
  bool is_error() const noexcept {
    return type_ == resp3::type::simple_error || type_ == resp3::type::blob_error;
  }
  bool is_string() const noexcept {
    return type_ == resp3::type::simple_string || type_ == resp3::type::bulk_string ||
           type_ == resp3::type::verbatim_string;
  }
  bool is_aggregate() const noexcept { return resp3::is_aggregate(type_); }

  // Text of strings, errors, big numbers (a verbatim string without its "txt:" prefix).
  // Integers, doubles and booleans give their wire text too.
  std::string_view str() const noexcept;
  // The value of an integer, double or boolean reply; throws on other types.
  std::int64_t integer() const;
  double number() const;
  bool boolean() const;

  // Declared number of elements of an aggregate (pairs for a map); 0 for scalars.
  std::size_t size() const noexcept;
  // All child replies; a map's keys and values alternate.
  std::span<const reply> elements() const noexcept { return elements_; }
  std::span<reply> elements() noexcept { return elements_; }
  const reply& operator[](std::size_t i) const;
  // The value for `key` in a map reply, or nullptr.
  const reply* find(std::string_view key) const noexcept;

  template <class T>
  T as() const& {
    return reply(*this).as<T>();
  }
  template <class T>
  T as() &&;

  // Throws system_error with the server's message if this is an error reply.
  void throw_if_error() const {
    if (is_error()) throw_server_error();
  }

  // Used while building replies: become a scalar of type `t` holding `text`, or an
  // empty aggregate of type `t`, reusing this reply's storage.
  void assign(resp3::type t, std::string_view text);
  void assign_aggregate(resp3::type t) noexcept;
  std::vector<reply>& mutable_elements() noexcept { return elements_; }
  std::string& mutable_text() noexcept { return text_; }

  // Structural JSON form: maps become objects (keys as text), other aggregates arrays.
  boost::json::value to_json() const;

  friend bool operator==(const reply&, const reply&) noexcept;

 private:
  [[noreturn]] void throw_server_error() const;
  void parse_scalar() noexcept;

  resp3::type type_ = resp3::type::null;
  union {
    std::int64_t integer_;
    double double_;
    bool bool_;
  } scalar_{};
  std::string text_;
  std::vector<reply> elements_;
};

// One reply per command of a pipeline, for `execute<responses>(req)`: errors stay in place.
struct responses : std::vector<reply> {
  using std::vector<reply>::vector;
};

namespace detail {

[[noreturn]] void throw_conversion(error e, std::string_view expected, const reply& actual);

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
struct is_tuple_like : std::false_type {};
template <class... Ts>
struct is_tuple_like<std::tuple<Ts...>> : std::true_type {};
template <class A, class B>
struct is_tuple_like<std::pair<A, B>> : std::true_type {};

template <class T>
concept map_container = requires {
  typename T::key_type;
  typename T::mapped_type;
} && requires(T& m, typename T::key_type k, typename T::mapped_type v) {
  m.emplace(std::move(k), std::move(v));
};

template <class T>
concept set_container = !map_container<T> && requires {
  typename T::key_type;
  typename T::value_type;
} && requires(T& s, typename T::value_type v) { s.insert(std::move(v)); };

template <class T>
concept sequence_container = !bytes_value<T> && !text_value<T> && requires {
  typename T::value_type;
} && requires(T& c, typename T::value_type v) { c.push_back(std::move(v)); };

std::int64_t to_int64(const reply& r);
double to_double(const reply& r);
bool to_bool(const reply& r);
std::string to_text(reply&& r);

template <class T>
T reply_to(reply&& r);

template <class Tuple, std::size_t... I>
Tuple tuple_from(std::vector<reply>& elems, std::index_sequence<I...>) {
  return Tuple(reply_to<std::tuple_element_t<I, Tuple>>(std::move(elems[I]))...);
}

template <class T>
T reply_to(reply&& r) {
  using resp3::type;
  if constexpr (std::same_as<T, reply>) {
    return std::move(r);
  } else {
    r.throw_if_error();
    if constexpr (is_optional<T>::value) {
      if (r.is_null()) return std::nullopt;
      return reply_to<typename T::value_type>(std::move(r));
    } else if constexpr (std::same_as<T, ignore_t>) {
      return ignore;
    } else if constexpr (std::same_as<T, boost::json::value>) {
      return r.to_json();
    } else {
      if (r.is_null()) throw_conversion(error::unexpected_null, "a value", r);
      if constexpr (std::same_as<T, std::string>) {
        return to_text(std::move(r));
      } else if constexpr (std::same_as<T, bool>) {
        return to_bool(r);
      } else if constexpr (std::integral<T>) {
        const std::int64_t v = to_int64(r);
        if constexpr (std::is_signed_v<T>) {
          if (v < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
              v > static_cast<std::int64_t>(std::numeric_limits<T>::max()))
            throw_conversion(error::out_of_range, "an integer in range", r);
        } else {
          if (v < 0 || static_cast<std::uint64_t>(v) > std::numeric_limits<T>::max())
            throw_conversion(error::out_of_range, "a non-negative integer in range", r);
        }
        return static_cast<T>(v);
      } else if constexpr (std::floating_point<T>) {
        return static_cast<T>(to_double(r));
      } else if constexpr (bytes_value<T>) {
        std::string s = to_text(std::move(r));
        return decode<T>(s);
      } else if constexpr (is_tuple_like<T>::value) {
        constexpr std::size_t n = std::tuple_size_v<T>;
        if (!r.is_aggregate()) throw_conversion(error::unexpected_type, "an aggregate", r);
        if (r.mutable_elements().size() != n)
          throw_conversion(error::size_mismatch,
                           "an aggregate of " + std::to_string(n) + " elements", r);
        return tuple_from<T>(r.mutable_elements(), std::make_index_sequence<n>{});
      } else if constexpr (map_container<T>) {
        if (!r.is_aggregate()) throw_conversion(error::unexpected_type, "a map", r);
        auto& e = r.mutable_elements();
        if (e.size() % 2 != 0) throw_conversion(error::size_mismatch, "key/value pairs", r);
        T out;
        for (std::size_t i = 0; i < e.size(); i += 2)
          out.emplace(reply_to<typename T::key_type>(std::move(e[i])),
                      reply_to<typename T::mapped_type>(std::move(e[i + 1])));
        return out;
      } else if constexpr (set_container<T> || sequence_container<T>) {
        if (r.is_string()) return decode<T>(r.str());
        if (!r.is_aggregate()) throw_conversion(error::unexpected_type, "an aggregate", r);
        T out;
        if constexpr (requires { out.reserve(std::size_t{}); }) out.reserve(r.elements().size());
        for (auto& e : r.mutable_elements()) {
          if constexpr (set_container<T>)
            out.insert(reply_to<typename T::value_type>(std::move(e)));
          else
            out.push_back(reply_to<typename T::value_type>(std::move(e)));
        }
        return out;
      } else if constexpr (boost::json::has_value_to<T>::value) {
        if (r.is_string()) return decode<T>(r.str());
        auto res = boost::json::try_value_to<T>(r.to_json());
        if (!res) throw_conversion(error::decode_failed, "JSON of the requested type", r);
        return std::move(*res);
      } else {
        static_assert(std::same_as<T, reply>, "redcoro: no conversion from reply to this type");
      }
    }
  }
}

}  // namespace detail

template <class T>
T reply::as() && {
  return detail::reply_to<T>(std::move(*this));
}

}  // namespace redcoro
