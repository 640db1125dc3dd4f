// Error codes of redcoro and the exception that carries a server's message.
//
// Every failure has a code in `redcoro::error_category()`, compatible with both
// `boost::system::error_code` and `std::error_code`. Operations throw
// `boost::system::system_error` by default; when the server answered with an error
// reply, what() keeps the server's own message (e.g. "WRONGTYPE Operation against...").
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <exception>
#include <string>
#include <string_view>
#include <type_traits>

namespace redcoro {

enum class error {
  // Connection state
  not_connected = 1,    // no connection was established, or it was closed before use
  connection_closed,    // close() was called or the connection was destroyed
  connection_lost,      // the link failed before the request was written: safe to resend
  outcome_unknown,      // the request was written but its reply was lost: it may have run
  connect_timeout,
  request_timeout,
  cancelled,            // the caller cancelled the request

  // Protocol (the connection is closed after any of these)
  invalid_type_byte,
  invalid_length,
  invalid_number,
  invalid_boolean,
  invalid_line,         // a header line not terminated by CRLF, or a bulk without its CRLF
  nesting_too_deep,
  bulk_too_large,
  unexpected_reply,     // a reply arrived while no request was waiting for one

  // Server error replies; the exception's what() holds the server's message
  server_error,         // an error reply without a more specific code below
  wrong_type,           // WRONGTYPE
  no_script,            // NOSCRIPT
  busy,                 // BUSY
  loading,              // LOADING
  read_only,            // READONLY
  out_of_memory,        // OOM
  no_auth,              // NOAUTH
  auth_failed,          // WRONGPASS, or AUTH/HELLO rejected during the handshake
  no_permission,        // NOPERM
  exec_aborted,         // EXECABORT
  moved,                // MOVED (cluster)
  ask,                  // ASK (cluster)
  max_clients,          // the server refused the connection: max number of clients reached
  tls_handshake_failed, // TLS could not be established (e.g. the certificate was rejected)
  invalid_database,     // SELECT failed during the handshake

  // Converting a reply to a C++ type
  unexpected_type,      // the reply's type does not convert to the requested type
  unexpected_null,      // a null reply where the requested type cannot hold one
  out_of_range,         // the number does not fit the requested type
  size_mismatch,        // tuple/array length differs from the number of replies or elements
  decode_failed,        // a stored value is not valid JSON for the requested type

  // Configuration
  invalid_url,
  invalid_config,
  tls_not_supported,

  // Pool
  circuit_open,         // the circuit breaker is open: failing fast
  acquire_timeout,      // no connection became free within the acquire timeout
  pool_closed,

  // Data structures
  queue_full,           // a REJECT queue at its maximum size
  lock_not_acquired,
  lock_lost,            // the lock expired or was taken over before release/extend
  value_too_large,
  invalid_argument,     // an argument outside what the operation accepts
};

// The category of all redcoro error codes; its name is "redcoro".
const boost::system::error_category& error_category() noexcept;

inline boost::system::error_code make_error_code(error e) noexcept {
  return {static_cast<int>(e), error_category()};
}

// Classifies a server error reply ("WRONGTYPE ...", "NOSCRIPT ...") by its prefix.
error server_error_code(std::string_view message) noexcept;

// True for errors that prove the request was not executed, so sending it again cannot
// duplicate a write (whether to resend is the caller's policy).
bool is_safe_to_resend(const boost::system::error_code& ec) noexcept;

// Builds the exception redcoro throws: a system_error whose what() starts with `detail`.
std::exception_ptr make_exception(const boost::system::error_code& ec, std::string detail = {});

// What a system_error says without the code's own text that what() appends.
std::string message_of(const boost::system::system_error& e);

// The code of the `system_error` held by `e`: empty for a null pointer, and
// `errc::state_not_recoverable` for an exception that is not a system_error.
boost::system::error_code error_code_of(const std::exception_ptr& e) noexcept;

}  // namespace redcoro

template <>
struct boost::system::is_error_code_enum<redcoro::error> : std::true_type {};
template <>
struct std::is_error_code_enum<redcoro::error> : std::true_type {};
