#include <redcoro/error.hpp>

#include <boost/system/errc.hpp>

namespace redcoro {
namespace {

class category final : public boost::system::error_category {
 public:
  constexpr category() noexcept : error_category(0x7265'6463'6f72'6f31ULL) {}

  const char* name() const noexcept override { return "redcoro"; }

  std::string message(int ev) const override { return describe(static_cast<error>(ev)); }

  char const* message(int ev, char*, std::size_t) const noexcept override {
    return describe(static_cast<error>(ev));
  }

 private:
  static const char* describe(error e) noexcept {
    switch (e) {
      case error::not_connected: return "not connected";
      case error::connection_closed: return "connection closed";
      case error::connection_lost: return "connection lost before the request was sent";
      case error::outcome_unknown: return "connection lost after the request was sent: outcome unknown";
      case error::connect_timeout: return "connect timed out";
      case error::request_timeout: return "request timed out";
      case error::cancelled: return "request cancelled";
      case error::invalid_type_byte: return "protocol error: invalid RESP type byte";
      case error::invalid_length: return "protocol error: invalid length";
      case error::invalid_number: return "protocol error: invalid number";
      case error::invalid_boolean: return "protocol error: invalid boolean";
      case error::invalid_line: return "protocol error: line not terminated by CRLF";
      case error::nesting_too_deep: return "protocol error: reply nested too deeply";
      case error::bulk_too_large: return "protocol error: bulk string larger than the configured maximum";
      case error::unexpected_reply: return "protocol error: reply with no request waiting for it";
      case error::server_error: return "server error";
      case error::wrong_type: return "wrong type";
      case error::no_script: return "script not loaded";
      case error::busy: return "server busy running a script";
      case error::loading: return "server loading its dataset";
      case error::read_only: return "server is a read-only replica";
      case error::out_of_memory: return "server out of memory";
      case error::no_auth: return "authentication required";
      case error::auth_failed: return "authentication failed";
      case error::no_permission: return "no permission";
      case error::exec_aborted: return "transaction aborted by the server";
      case error::moved: return "slot moved";
      case error::ask: return "slot migrating";
      case error::max_clients: return "server reached its maximum number of clients";
      case error::tls_handshake_failed: return "TLS handshake failed";
      case error::invalid_database: return "invalid database";
      case error::unexpected_type: return "reply does not convert to the requested type";
      case error::unexpected_null: return "null reply where a value was required";
      case error::out_of_range: return "number out of range for the requested type";
      case error::size_mismatch: return "number of replies or elements differs from the requested type";
      case error::decode_failed: return "stored value could not be decoded";
      case error::invalid_url: return "invalid URL";
      case error::invalid_config: return "invalid configuration";
      case error::tls_not_supported: return "TLS is not supported for this kind of address";
      case error::circuit_open: return "circuit breaker open: failing fast";
      case error::acquire_timeout: return "timed out waiting for a free connection";
      case error::pool_closed: return "connection pool closed";
      case error::queue_full: return "queue full";
      case error::lock_not_acquired: return "lock not acquired";
      case error::lock_lost: return "lock lost: it expired or another holder took it";
      case error::value_too_large: return "value too large";
      case error::invalid_argument: return "invalid argument";
    }
    return "unknown redcoro error";
  }
};

constexpr category the_category;

bool starts_with_word(std::string_view message, std::string_view word) noexcept {
  return message.size() >= word.size() && message.substr(0, word.size()) == word &&
         (message.size() == word.size() || message[word.size()] == ' ');
}

}  // namespace

const boost::system::error_category& error_category() noexcept { return the_category; }

error server_error_code(std::string_view message) noexcept {
  struct prefix { std::string_view word; error code; };
  static constexpr prefix prefixes[] = {
      {"WRONGTYPE", error::wrong_type},  {"NOSCRIPT", error::no_script},
      {"BUSY", error::busy},             {"LOADING", error::loading},
      {"READONLY", error::read_only},    {"OOM", error::out_of_memory},
      {"NOAUTH", error::no_auth},        {"WRONGPASS", error::auth_failed},
      {"NOPERM", error::no_permission},  {"EXECABORT", error::exec_aborted},
      {"MOVED", error::moved},           {"ASK", error::ask},
  };
  for (const auto& p : prefixes)
    if (starts_with_word(message, p.word)) return p.code;
  if (message.starts_with("ERR max number of clients reached")) return error::max_clients;
  if (message.starts_with("ERR invalid password")) return error::auth_failed;
  return error::server_error;
}

bool is_safe_to_resend(const boost::system::error_code& ec) noexcept {
  return ec == error::connection_lost || ec == error::not_connected || ec == error::loading ||
         ec == error::busy || ec == error::max_clients;
}

std::exception_ptr make_exception(const boost::system::error_code& ec, std::string detail) {
  return std::make_exception_ptr(boost::system::system_error(ec, detail));
}

std::string message_of(const boost::system::system_error& e) {
  std::string_view what = e.what();
  const std::string code_text = e.code().what();
  if (what.ends_with(code_text)) what.remove_suffix(code_text.size());
  if (what.ends_with(": ")) what.remove_suffix(2);
  return what.empty() ? e.code().message() : std::string(what);
}

boost::system::error_code error_code_of(const std::exception_ptr& e) noexcept {
  if (!e) return {};
  try {
    std::rethrow_exception(e);
  } catch (const boost::system::system_error& ex) {
    return ex.code();
  } catch (...) {
    return make_error_code(boost::system::errc::state_not_recoverable);
  }
}

}  // namespace redcoro
