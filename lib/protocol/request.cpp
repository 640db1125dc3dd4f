#include <redcoro/request.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

namespace redcoro {
namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x >= 'a' && x <= 'z' ? x - 32 : x) == y;
         });
}

// Commands the server answers with push messages instead of a reply.
bool answered_by_push(std::string_view command) noexcept {
  if (command.size() < 9 || command.size() > 12) return false;
  for (std::string_view c : {"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE",
                             "PUNSUBSCRIBE", "SUNSUBSCRIBE"})
    if (iequals(command, c)) return true;
  return false;
}

// Commands that leave the data unchanged, or set it to the same state however often they
// run. Sorted for binary search; upper case.
constexpr std::array<std::string_view, 83> idempotent_commands = {
    "BITCOUNT",   "BITPOS",      "DBSIZE",      "DUMP",        "ECHO",        "EVALSHA_RO",
    "EVAL_RO",    "EXISTS",      "EXPIRETIME",  "FCALL_RO",    "GEODIST",     "GEOHASH",
    "GEOPOS",     "GEOSEARCH",   "GET",         "GETBIT",      "GETRANGE",    "HEXISTS",
    "HGET",       "HGETALL",     "HKEYS",       "HLEN",        "HMGET",       "HRANDFIELD",
    "HSCAN",      "HSTRLEN",     "HVALS",       "INFO",        "KEYS",        "LCS",
    "LINDEX",     "LLEN",        "LOLWUT",      "LPOS",        "LRANGE",      "MGET",
    "MSET",       "OBJECT",      "PEXPIRETIME", "PFCOUNT",     "PING",        "PTTL",
    "RANDOMKEY",  "SCAN",        "SCARD",       "SDIFF",       "SET",         "SINTER",
    "SINTERCARD", "SISMEMBER",   "SMEMBERS",    "SMISMEMBER",  "SRANDMEMBER", "SSCAN",
    "STRLEN",     "SUBSTR",      "SUNION",      "TIME",        "TOUCH",       "TTL",
    "TYPE",       "XINFO",       "XLEN",        "XPENDING",    "XRANGE",      "XREVRANGE",
    "ZCARD",      "ZCOUNT",      "ZDIFF",       "ZINTER",      "ZINTERCARD",  "ZLEXCOUNT",
    "ZMSCORE",    "ZRANDMEMBER", "ZRANGE",      "ZRANGEBYLEX", "ZRANGEBYSCORE", "ZRANK",
    "ZREVRANGE",  "ZREVRANK",    "ZSCAN",       "ZSCORE",      "ZUNION",
};

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  return out;
}

// Reads one "<tag><number>\r\n" header at `pos`.
bool read_header(std::string_view p, std::size_t& pos, char tag, std::size_t& n) {
  if (pos >= p.size() || p[pos] != tag) return false;
  const auto end = p.find('\r', pos);
  if (end == std::string_view::npos) return false;
  auto res = std::from_chars(p.data() + pos + 1, p.data() + end, n);
  if (res.ec != std::errc{}) return false;
  pos = end + 2;
  return true;
}

bool command_is_idempotent(const std::vector<std::string_view>& args) {
  const std::string name = upper(args.front());
  if (!std::binary_search(idempotent_commands.begin(), idempotent_commands.end(), name))
    return false;
  if (name == "SET") {
    // NX/XX/GET make a second run answer differently from the first.
    for (std::size_t i = 3; i < args.size(); ++i) {
      const std::string opt = upper(args[i]);
      if (opt == "NX" || opt == "XX" || opt == "GET") return false;
    }
  }
  return true;
}

}  // namespace

void request::clear() noexcept {
  payload_.clear();
  commands_ = 0;
  expected_replies_ = 0;
  skipped_replies_ = 0;
  largest_argument_ = 0;
  timeout_.reset();
  idempotent_.reset();
}

void request::append_header(char tag, std::size_t n) {
  char buf[24];
  buf[0] = tag;
  auto res = std::to_chars(buf + 1, buf + sizeof buf - 2, n);
  *res.ptr++ = '\r';
  *res.ptr++ = '\n';
  payload_.append(buf, static_cast<std::size_t>(res.ptr - buf));
}

void request::append_bulk(std::string_view data) {
  largest_argument_ = std::max(largest_argument_, data.size());
  append_header('$', data.size());
  payload_.append(data);
  payload_.append("\r\n", 2);
}

std::string_view request::format_double(double d, char (&buf)[32]) noexcept {
  if (std::isinf(d)) return d > 0 ? "+inf" : "-inf";
  auto res = std::to_chars(buf, buf + sizeof buf, d);
  return std::string_view(buf, static_cast<std::size_t>(res.ptr - buf));
}

void request::append_double(double d) {
  char buf[32];
  append_bulk(format_double(d, buf));
}

namespace {

std::size_t decimal_digits(std::size_t n) noexcept {
  if (n < 10) return 1;
  if (n < 100) return 2;
  if (n < 1000) return 3;
  std::size_t digits = 4;
  for (n /= 10000; n != 0; n /= 10) ++digits;
  return digits;
}

char* write_header(char* p, char tag, std::size_t n, std::size_t digits) noexcept {
  *p++ = tag;
  if (n < 10) {
    *p++ = static_cast<char>('0' + n);
  } else if (n < 100) {
    const auto small = static_cast<unsigned>(n);
    p[0] = static_cast<char>('0' + small / 10);
    p[1] = static_cast<char>('0' + small % 10);
    p += 2;
  } else {
    p = std::to_chars(p, p + digits, n).ptr;
  }
  p[0] = '\r';
  p[1] = '\n';
  return p + 2;
}

}  // namespace

void request::append_command(const std::string_view* args, std::size_t n) {
  std::size_t total = 3 + decimal_digits(n);
  for (std::size_t i = 0; i < n; ++i) {
    total += 5 + decimal_digits(args[i].size()) + args[i].size();
    largest_argument_ = std::max(largest_argument_, args[i].size());
  }
  const std::size_t old = payload_.size();
  payload_.resize(old + total);
  char* p = payload_.data() + old;
  p = write_header(p, '*', n, decimal_digits(n));
  for (std::size_t i = 0; i < n; ++i) {
    const std::string_view a = args[i];
    p = write_header(p, '$', a.size(), decimal_digits(a.size()));
    if (!a.empty()) std::memcpy(p, a.data(), a.size());
    p += a.size();
    p[0] = '\r';
    p[1] = '\n';
    p += 2;
  }
}

void request::note_command(std::string_view command) noexcept {
  ++commands_;
  if (!answered_by_push(command)) ++expected_replies_;
}

bool request::is_idempotent() const {
  if (idempotent_) return *idempotent_;
  std::string_view p = payload_;
  std::size_t pos = 0;
  std::vector<std::string_view> args;
  while (pos < p.size()) {
    std::size_t argc = 0;
    if (!read_header(p, pos, '*', argc) || argc == 0) return false;
    args.clear();
    for (std::size_t i = 0; i < argc; ++i) {
      std::size_t len = 0;
      if (!read_header(p, pos, '$', len) || pos + len + 2 > p.size()) return false;
      args.push_back(p.substr(pos, len));
      pos += len + 2;
    }
    if (!command_is_idempotent(args)) return false;
  }
  return true;
}

}  // namespace redcoro
