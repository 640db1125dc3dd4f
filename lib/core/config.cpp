#include <redcoro/config.hpp>
#include <redcoro/error.hpp>

#include "url_options.hpp"

#include <boost/url.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <set>

namespace redcoro {
namespace {

constexpr std::int64_t max_duration_ms = std::int64_t{1'000'000'000'000};  // about 31 years

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

bool is_hex(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool all_digits(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The URL with every password (in the user info and in a `password` query option)
// replaced by "***", for error messages.
std::string redact(std::string_view url) {
  std::string out(url);
  const auto authority = out.find("://");
  if (authority != std::string::npos) {
    const std::size_t start = authority + 3;
    const std::size_t end = std::min(out.find_first_of("?#", start), out.size());
    const std::string_view auth = std::string_view(out).substr(start, end - start);
    const auto at = auth.rfind('@');
    if (at != std::string_view::npos) {
      const auto colon = auth.substr(0, at).find(':');
      if (colon != std::string_view::npos && colon + 1 < at)
        out.replace(start + colon + 1, at - colon - 1, "***");
    }
  }
  const auto query = out.find('?');
  if (query == std::string::npos) return out;
  std::size_t pos = query + 1;
  while (pos <= out.size()) {
    std::size_t end = std::min(out.find_first_of("&#", pos), out.size());
    const std::string_view param = std::string_view(out).substr(pos, end - pos);
    const auto eq = param.find('=');
    if (eq != std::string_view::npos && iequals(param.substr(0, eq), "password") &&
        eq + 1 < param.size()) {
      out.replace(pos + eq + 1, param.size() - eq - 1, "***");
      end = pos + eq + 4;
    }
    if (end >= out.size() || out[end] == '#') break;
    pos = end + 1;
  }
  return out;
}

// The port as written in the authority, when there is one.
std::optional<std::string_view> raw_port(std::string_view url) {
  const auto authority = url.find("://");
  if (authority == std::string_view::npos) return std::nullopt;
  std::string_view auth = url.substr(authority + 3);
  auth = auth.substr(0, std::min(auth.find_first_of("?#"), auth.size()));
  // After the last '@', as redact() sees it, so that no part of a password is quoted.
  const auto at = auth.rfind('@');
  if (at != std::string_view::npos) auth.remove_prefix(at + 1);
  auth = auth.substr(0, std::min(auth.find('/'), auth.size()));
  if (!auth.empty() && auth.front() == '[') {
    const auto close = auth.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    auth.remove_prefix(close + 1);
    if (auth.empty() || auth.front() != ':') return std::nullopt;
    return auth.substr(1);
  }
  const auto colon = auth.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return auth.substr(colon + 1);
}

class url_parser final : public detail::url_option_reader {
 public:
  url_parser(std::string_view url, std::string_view source) : url_(url), source_(source) {}
  url_parser(std::string_view url, std::string_view source, const std::vector<std::string_view>& extra_keys,
             const detail::url_extra_option& on_extra)
      : url_(url), source_(source), extra_keys_(&extra_keys), on_extra_(&on_extra) {}

  [[noreturn]] void fail(const std::string& why) const override {
    std::string msg;
    if (!source_.empty()) {
      msg += source_;
      msg += ": ";
    }
    msg += "invalid Redis URL \"";
    msg += redact(url_);
    msg += "\": ";
    msg += why;
    throw boost::system::system_error(error::invalid_url, msg);
  }

  std::chrono::milliseconds duration(std::string_view key, std::string_view text) const override {
    return parse_duration(key, text);
  }

  std::uint64_t count(std::string_view key, std::string_view text) const override {
    std::uint64_t n = 0;
    auto res = std::from_chars(text.data(), text.data() + text.size(), n);
    if (!all_digits(text) || res.ec != std::errc{})
      fail("option " + std::string(key) + ": \"" + std::string(text) + "\" is not a non-negative integer");
    return n;
  }

  config parse() {
    if (url_.empty()) fail("the URL is empty");
    parse_scheme();
    check_percent_encoding();

    if (auto port = raw_port(url_); port && !port->empty() && !all_digits(*port))
      fail("port \"" + std::string(*port) + "\" is not a number");
    auto parsed = boost::urls::parse_uri(url_);
    if (!parsed) fail("malformed URL (" + parsed.error().message() + ")");
    const boost::urls::url_view u = *parsed;
    if (u.has_fragment()) fail("a fragment (\"#...\") is not allowed");
    if (u.has_authority() && !u.encoded_path().empty() && u.encoded_path().front() != '/')
      fail("malformed host or user info (percent-encode any '@', ':' or '/' in the user name "
           "or password)");

    if (unix_) parse_unix(u);
    else parse_tcp(u);
    parse_options(u);

    if (path_db_ && query_db_ && *path_db_ != *query_db_)
      fail("the database is given both in the path (" + std::to_string(*path_db_) +
           ") and as option db (" + std::to_string(*query_db_) + ")");
    if (path_db_) cfg_.db = *path_db_;
    if (query_db_) cfg_.db = *query_db_;
    return cfg_;
  }

 private:

  void parse_scheme() {
    const auto colon = url_.find(':');
    const std::string_view scheme =
        colon == std::string_view::npos ? std::string_view{} : url_.substr(0, colon);
    if (iequals(scheme, "redis")) {
    } else if (iequals(scheme, "rediss")) {
      cfg_.tls.enabled = true;
    } else if (iequals(scheme, "unix") || iequals(scheme, "redis+unix")) {
      unix_ = true;
    } else if (scheme.empty() || scheme.find_first_of("/@[?#") != std::string_view::npos) {
      fail("no scheme (expected redis://, rediss:// or unix://)");
    } else {
      fail("unknown scheme \"" + std::string(scheme) +
           "\" (expected redis://, rediss:// or unix://)");
    }
  }

  void check_percent_encoding() const {
    for (std::size_t i = 0; i < url_.size(); ++i) {
      if (url_[i] != '%') continue;
      if (i + 2 >= url_.size() || !is_hex(url_[i + 1]) || !is_hex(url_[i + 2]))
        fail("malformed percent-encoding: '%' must be followed by two hexadecimal digits");
    }
  }

  void parse_userinfo(const boost::urls::url_view& u) {
    if (!u.has_userinfo()) return;
    cfg_.username = u.user();
    if (u.has_password()) cfg_.password = u.password();
    userinfo_password_ = u.has_password() && !cfg_.password.empty();
    userinfo_user_ = !cfg_.username.empty();
  }

  void parse_unix(const boost::urls::url_view& u) {
    if (u.has_authority() && !u.encoded_host().empty())
      fail("a unix socket URL has no host, but \"" + std::string(u.encoded_host()) +
           "\" is given (write unix:///absolute/path/to/redis.sock)");
    if (u.has_port()) fail("a unix socket URL has no port");
    parse_userinfo(u);
    cfg_.unix_socket = u.path();
    if (cfg_.unix_socket.empty()) fail("no socket path (expected unix:///path/to/redis.sock)");
  }

  void parse_tcp(const boost::urls::url_view& u) {
    if (!u.has_authority()) fail("no host (expected redis://host[:port])");
    switch (u.host_type()) {
      case boost::urls::host_type::ipv6:
      case boost::urls::host_type::ipv4:
      case boost::urls::host_type::name:
        cfg_.host = u.host_address();
        break;
      case boost::urls::host_type::ipvfuture:
        fail("unsupported IP literal \"" + std::string(u.encoded_host()) + "\"");
      case boost::urls::host_type::none:
        cfg_.host.clear();
        break;
    }
    if (cfg_.host.empty()) fail("empty host");

    if (u.has_port()) {
      const std::string_view port = u.port();
      if (port.empty()) fail("empty port after ':'");
      if (!all_digits(port)) fail("port \"" + std::string(port) + "\" is not a number");
      std::uint64_t n = 0;
      auto res = std::from_chars(port.data(), port.data() + port.size(), n);
      if (res.ec != std::errc{} || n == 0 || n > 65535)
        fail("port " + std::string(port) + " is out of range (1-65535)");
      cfg_.port = static_cast<std::uint16_t>(n);
    }
    parse_userinfo(u);

    const std::string path = u.path();
    if (path.empty() || path == "/") return;
    std::string_view db = path;
    db.remove_prefix(1);
    if (path.front() != '/' || db.find('/') != std::string_view::npos)
      fail("path \"" + path + "\" is not a database number (expected /N)");
    path_db_ = parse_db(db, "in the path");
  }

  int parse_db(std::string_view text, std::string_view where) const {
    const std::string quoted = "\"" + std::string(text) + "\" " + std::string(where);
    if (text.size() > 1 && text.front() == '-' && all_digits(text.substr(1)))
      fail("database " + quoted + " is negative");
    if (!all_digits(text)) fail("database " + quoted + " is not a number");
    int n = 0;
    auto res = std::from_chars(text.data(), text.data() + text.size(), n);
    if (res.ec != std::errc{}) fail("database " + quoted + " is out of range");
    return n;
  }

  std::chrono::milliseconds parse_duration(std::string_view name, std::string_view text) const {
    auto bad = [&] {
      fail("option " + std::string(name) + ": bad duration \"" + std::string(text) +
           "\" (expected a non-negative number with an optional unit ms, s, m or h; "
           "a bare number is seconds)");
    };
    std::size_t i = 0;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    const std::string_view number = text.substr(0, i);
    const std::string_view unit = text.substr(i);
    std::int64_t factor = 0;
    if (unit.empty() || unit == "s") factor = 1000;
    else if (unit == "ms") factor = 1;
    else if (unit == "m") factor = 60'000;
    else if (unit == "h") factor = 3'600'000;
    else bad();

    const auto dot = number.find('.');
    const std::string_view whole = number.substr(0, dot);
    const std::string_view frac =
        dot == std::string_view::npos ? std::string_view{} : number.substr(dot + 1);
    if (whole.empty() && frac.empty()) bad();
    if ((!whole.empty() && !all_digits(whole)) || (!frac.empty() && !all_digits(frac))) bad();
    if (dot != std::string_view::npos && frac.empty()) bad();

    std::int64_t w = 0;
    if (!whole.empty()) {
      auto res = std::from_chars(whole.data(), whole.data() + whole.size(), w);
      if (res.ec != std::errc{} || w > max_duration_ms / factor)
        fail("option " + std::string(name) + ": duration \"" + std::string(text) + "\" is too large");
    }
    std::int64_t ms = w * factor;
    if (!frac.empty()) {
      const std::string_view kept = frac.substr(0, 9);
      std::int64_t f = 0, scale = 1;
      std::from_chars(kept.data(), kept.data() + kept.size(), f);
      for (std::size_t k = 0; k < kept.size(); ++k) scale *= 10;
      std::int64_t part = (f * factor + scale / 2) / scale;
      if (part == 0 && f != 0) part = 1;
      ms += part;
      if (ms > max_duration_ms)
        fail("option " + std::string(name) + ": duration \"" + std::string(text) + "\" is too large");
    }
    return std::chrono::milliseconds(ms);
  }

  bool parse_bool(std::string_view name, std::string_view text) const {
    for (std::string_view t : {"true", "1", "yes", "on"})
      if (iequals(text, t)) return true;
    for (std::string_view f : {"false", "0", "no", "off"})
      if (iequals(text, f)) return false;
    fail("option " + std::string(name) + ": \"" + std::string(text) +
         "\" is not a boolean (expected true/false, 1/0 or yes/no)");
  }

  void require_tls(std::string_view name) const {
    if (!cfg_.tls.enabled)
      fail("option " + std::string(name) + " applies only to TLS connections (a rediss:// URL)");
  }

  void parse_options(const boost::urls::url_view& u) {
    std::set<std::string, std::less<>> seen;
    for (const auto& p : u.params(boost::urls::encoding_opts{false, false, false})) {
      if (p.key.empty() && !p.has_value) continue;
      const std::string& key = p.key;
      const std::string& value = p.value;
      if (!seen.insert(key).second) fail("option " + key + " is given more than once");
      if (key == "db") {
        if (!p.has_value) fail("option db has no value");
        query_db_ = parse_db(value, "in option db");
        continue;
      }
      if (key == "password") {
        if (userinfo_password_) fail("the password is given both in the URL and as an option");
        cfg_.password = value;
        continue;
      }
      if (key == "username") {
        if (userinfo_user_) fail("the user name is given both in the URL and as an option");
        cfg_.username = value;
        continue;
      }
      if (key == "client_name") {
        cfg_.client_name = value;
        continue;
      }
      if (extra_keys_ && std::find(extra_keys_->begin(), extra_keys_->end(), key) != extra_keys_->end()) {
        if (!p.has_value || value.empty()) fail("option " + key + " has no value");
        (*on_extra_)(*this, key, value);
        continue;
      }
      const bool known = key == "connect_timeout" || key == "request_timeout" ||
                         key == "protocol" || key == "ca_file" || key == "ca_dir" ||
                         key == "cert_file" || key == "key_file" || key == "verify_peer" ||
                         key == "server_name";
      if (!known) {
        std::string names =
            "db, username, password, client_name, connect_timeout, request_timeout, protocol, ca_file, "
            "ca_dir, cert_file, key_file, verify_peer, server_name";
        if (extra_keys_)
          for (std::string_view k : *extra_keys_) names += ", " + std::string(k);
        fail("unknown option \"" + key + "\" (known options: " + names + ")");
      }
      if (!p.has_value || value.empty()) fail("option " + key + " has no value");
      if (key == "connect_timeout") {
        cfg_.connect_timeout = parse_duration(key, value);
      } else if (key == "request_timeout") {
        cfg_.request_timeout = parse_duration(key, value);
      } else if (key == "protocol") {
        if (value == "2") cfg_.protocol = 2;
        else if (value == "3") cfg_.protocol = 3;
        else fail("option protocol: \"" + value + "\" is not 2 or 3");
      } else {
        require_tls(key);
        if (key == "ca_file") cfg_.tls.ca_file = value;
        else if (key == "ca_dir") cfg_.tls.ca_dir = value;
        else if (key == "cert_file") cfg_.tls.cert_file = value;
        else if (key == "key_file") cfg_.tls.key_file = value;
        else if (key == "verify_peer") cfg_.tls.verify_peer = parse_bool(key, value);
        else cfg_.tls.server_name = value;
      }
    }
  }

  std::string_view url_;
  std::string_view source_;
  config cfg_;
  bool unix_ = false;
  bool userinfo_user_ = false;
  bool userinfo_password_ = false;
  std::optional<int> path_db_;
  std::optional<int> query_db_;
  const std::vector<std::string_view>* extra_keys_ = nullptr;
  const detail::url_extra_option* on_extra_ = nullptr;
};

[[noreturn]] void invalid(const std::string& why) {
  throw boost::system::system_error(error::invalid_config, why);
}

}  // namespace

config config::from_url(std::string_view url) { return url_parser(url, {}).parse(); }

config detail::parse_url(std::string_view url, std::string_view source, const std::vector<std::string_view>& extra_keys,
                         const url_extra_option& on_extra) {
  return url_parser(url, source, extra_keys, on_extra).parse();
}

config config::from_env(const char* name) {
  const char* value = std::getenv(name);
  if (!value) return config{};
  return url_parser(value, std::string("environment variable ") + name).parse();
}

void config::validate() const {
  using namespace std::chrono_literals;
  if (unix_socket.empty()) {
    if (host.empty()) invalid("host is empty (and no unix_socket is set)");
    if (port == 0) invalid("port is 0 (and no unix_socket is set)");
  }
  if (db < 0) invalid("db is negative (" + std::to_string(db) + ")");
  for (char c : client_name)
    if (c <= ' ' || c > '~')
      invalid("client_name contains a space, a control or a non-ASCII character");
  if (tls.cert_file.empty() != tls.key_file.empty())
    invalid(tls.cert_file.empty() ? "tls.key_file is set without tls.cert_file"
                                  : "tls.cert_file is set without tls.key_file");
  if (keepalive.enabled) {
    if (keepalive.idle < 1s) invalid("keepalive.idle is less than one second");
    if (keepalive.interval < 1s) invalid("keepalive.interval is less than one second");
    if (keepalive.count < 1) invalid("keepalive.count is less than 1");
  }
  if (connect_timeout.count() < 0) invalid("connect_timeout is negative");
  if (request_timeout.count() < 0) invalid("request_timeout is negative");
  if (protocol != 2 && protocol != 3)
    invalid("protocol is " + std::to_string(protocol) + " (expected 2 or 3)");
  if (limits.max_bulk_size == 0) invalid("limits.max_bulk_size is 0");
  if (max_argument_size == 0) invalid("max_argument_size is 0");
  if (limits.max_depth == 0 || limits.max_depth > 1024)
    invalid("limits.max_depth is " + std::to_string(limits.max_depth) + " (expected 1 to 1024)");
}

std::string config::address() const {
  if (!unix_socket.empty()) return unix_socket;
  std::string out;
  if (host.find(':') != std::string::npos) {
    out += '[';
    out += host;
    out += ']';
  } else {
    out += host;
  }
  out += ':';
  out += std::to_string(port);
  return out;
}

}  // namespace redcoro
