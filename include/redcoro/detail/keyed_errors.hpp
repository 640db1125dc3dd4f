// Errors of the data structures say which structure and key they concern.
#pragma once

#include <redcoro/codec.hpp>
#include <redcoro/error.hpp>

#include <string_view>

namespace redcoro::detail {

// Rethrows `e` as "<context>: <e's message>", keeping its code.
[[noreturn]] void rethrow_with_context(const boost::system::system_error& e, std::string_view context);

// Rethrows `e` as "<what> '<key>': <e's message>", keeping its code.
[[noreturn]] void rethrow_for_key(const boost::system::system_error& e, std::string_view what, std::string_view key);

// decode<T>, whose failure names the key.
template <class T>
T decode_for_key(std::string_view text, std::string_view what, std::string_view key) {
  try {
    return decode<T>(text);
  } catch (const boost::system::system_error& e) {
    rethrow_for_key(e, what, key);
  }
}

}  // namespace redcoro::detail
