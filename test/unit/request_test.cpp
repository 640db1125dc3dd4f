#include <redcoro/request.hpp>
#include <redcoro/resp3_parser.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <list>
#include <map>
#include <random>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using redcoro::request;
using namespace std::string_literals;
using namespace std::chrono_literals;

namespace {

using command = std::vector<std::string>;

// Parses a request's payload back into its commands, checking it is well-formed RESP.
std::vector<command> commands_of(const request& req) {
  redcoro::resp3::parser p;
  std::string_view input = req.payload();
  std::vector<command> out;
  while (!input.empty()) {
    std::size_t consumed = 0;
    boost::system::error_code ec;
    auto n = p.next(input, consumed, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(n);
    input.remove_prefix(consumed);
    if (n->depth == 0) {
      REQUIRE(n->data_type == redcoro::resp3::type::array);
      out.emplace_back();
    } else {
      REQUIRE(n->depth == 1);
      REQUIRE(n->data_type == redcoro::resp3::type::bulk_string);
      out.back().emplace_back(n->value);
    }
  }
  REQUIRE(p.done());
  return out;
}

// An input range that does not know its size: from, from - 1, ..., 1.
struct countdown {
  struct sentinel {};
  struct iterator {
    using value_type = int;
    using difference_type = std::ptrdiff_t;
    int n;
    int operator*() const { return n; }
    iterator& operator++() {
      --n;
      return *this;
    }
    iterator operator++(int) {
      auto old = *this;
      --n;
      return old;
    }
    bool operator==(sentinel) const { return n == 0; }
  };
  int from;
  iterator begin() const { return {from}; }
  sentinel end() const { return {}; }
};
static_assert(std::ranges::input_range<const countdown&>);
static_assert(!std::ranges::sized_range<const countdown&>);

command only_command(const request& req) {
  auto cmds = commands_of(req);
  REQUIRE(cmds.size() == 1);
  return cmds.front();
}

}  // namespace

TEST_CASE("a command is serialized as an array of bulk strings") {
  request req("SET", "key", "value");
  CHECK(req.payload() == "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
}

TEST_CASE("a command without arguments is a one-element array") {
  CHECK(request("PING").payload() == "*1\r\n$4\r\nPING\r\n");
}

TEST_CASE("strings, string views and C strings are arguments") {
  const std::string s = "a";
  const std::string_view sv = "bc";
  const char* cs = "def";
  CHECK(only_command(request("CMD", s, sv, cs, "ghij")) == command{"CMD", "a", "bc", "def", "ghij"});
}

TEST_CASE("a request knows the size of its largest argument") {
  request req;
  CHECK(req.largest_argument() == 0);
  req.push("SET", "k", std::string(300, 'v'));
  req.push("RPUSH", "list", std::vector<std::string>{"a", std::string(700, 'b')});
  CHECK(req.largest_argument() == 700);
  req.clear();
  CHECK(req.largest_argument() == 0);
}

TEST_CASE("empty strings are empty arguments") {
  CHECK(request("SET", "", std::string()).payload() == "*3\r\n$3\r\nSET\r\n$0\r\n\r\n$0\r\n\r\n");
}

TEST_CASE("string arguments are binary safe") {
  const std::string binary = "a\r\n\0b\xff"s;
  CHECK(only_command(request("SET", "k", binary)) == command{"SET", "k", binary});
}

TEST_CASE("byte buffers are arguments") {
  const std::vector<char> chars{'a', '\0', 'b'};
  const std::vector<std::byte> bytes{std::byte{0xff}, std::byte{0x00}};
  const std::array<unsigned char, 3> raw{1, 2, 3};
  const std::span<const unsigned char> span(raw);
  CHECK(only_command(request("CMD", chars, bytes, span)) ==
        command{"CMD", "a\0b"s, "\xff\0"s, "\x01\x02\x03"s});
}

TEST_CASE("integers are written in decimal") {
  CHECK(only_command(request("CMD", 0, -1, 42u, short{7}, 123456789012LL)) ==
        command{"CMD", "0", "-1", "42", "7", "123456789012"});
}

TEST_CASE("the extreme 64-bit integers are written exactly") {
  CHECK(only_command(request("CMD", std::numeric_limits<std::int64_t>::min(),
                             std::numeric_limits<std::int64_t>::max(),
                             std::numeric_limits<std::uint64_t>::max())) ==
        command{"CMD", "-9223372036854775808", "9223372036854775807", "18446744073709551615"});
}

TEST_CASE("doubles are written in their shortest round-trip form") {
  CHECK(only_command(request("CMD", 0.1, 1.5, -2.0, 1e300, 5e-324)) ==
        command{"CMD", "0.1", "1.5", "-2", "1e+300", "5e-324"});
}

TEST_CASE("doubles read back to the same value") {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 1000; ++i) {
    const double d = std::bit_cast<double>(rng());
    if (!std::isfinite(d)) continue;
    const auto args = only_command(request("CMD", d));
    double back = 0;
    const auto res = std::from_chars(args[1].data(), args[1].data() + args[1].size(), back);
    CHECK(res.ptr == args[1].data() + args[1].size());
    CHECK(back == d);
  }
}

TEST_CASE("infinities are written as +inf and -inf") {
  CHECK(only_command(request("ZADD", "z", std::numeric_limits<double>::infinity(),
                             -std::numeric_limits<double>::infinity())) ==
        command{"ZADD", "z", "+inf", "-inf"});
}

TEST_CASE("each element of a range is one argument") {
  const std::vector<std::string> keys{"a", "b", "c"};
  CHECK(request("MGET", keys).payload() ==
        "*4\r\n$4\r\nMGET\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
}

TEST_CASE("ranges of numbers, lists and unsized views are arguments") {
  const std::vector<int> numbers{1, 2};
  const std::list<std::string_view> words{"x", "y"};
  CHECK(only_command(request("CMD", numbers, words, countdown{3})) ==
        command{"CMD", "1", "2", "x", "y", "3", "2", "1"});
}

TEST_CASE("an empty range adds no arguments") {
  CHECK(request("MGET", std::vector<std::string>{}).payload() == "*1\r\n$4\r\nMGET\r\n");
}

TEST_CASE("each map entry is two arguments") {
  const std::map<std::string, int> fields{{"a", 1}, {"b", 2}};
  CHECK(only_command(request("HSET", "h", fields)) == command{"HSET", "h", "a", "1", "b", "2"});
}

TEST_CASE("a pair is two arguments") {
  CHECK(only_command(request("CMD", std::pair<std::string, double>{"x", 2.5})) ==
        command{"CMD", "x", "2.5"});
}

TEST_CASE("nested ranges are flattened") {
  const std::vector<std::vector<std::string>> nested{{"a", "b"}, {}, {"c"}};
  const std::map<std::string, std::vector<int>> groups{{"g", {1, 2}}};
  CHECK(only_command(request("CMD", nested, groups)) ==
        command{"CMD", "a", "b", "c", "g", "1", "2"});
}

TEST_CASE("several pushes form a pipeline") {
  request req;
  req.push("SET", "k", 1).push("INCR", "k").push("GET", "k");
  CHECK(commands_of(req) == std::vector<command>{{"SET", "k", "1"}, {"INCR", "k"}, {"GET", "k"}});
  CHECK(req.commands() == 3);
  CHECK(req.expected_replies() == 3);
}

TEST_CASE("a new request is empty") {
  request req;
  CHECK(req.empty());
  CHECK(req.commands() == 0);
  CHECK(req.expected_replies() == 0);
  CHECK(req.payload().empty());
  CHECK_FALSE(req.timeout());
}

TEST_CASE("subscribe-family commands expect no reply") {
  request req;
  req.push("SUBSCRIBE", "a", "b")
      .push("psubscribe", "p*")
      .push("SSubscribe", "s")
      .push("UNSUBSCRIBE")
      .push("punsubscribe")
      .push("SUNSUBSCRIBE", "s");
  CHECK(req.commands() == 6);
  CHECK(req.expected_replies() == 0);
}

TEST_CASE("commands resembling subscribe still expect a reply") {
  request req;
  req.push("PUBLISH", "c", "m").push("SUBSCRIBED").push("PUBSUB", "CHANNELS");
  CHECK(req.expected_replies() == 3);
}

TEST_CASE("clear empties the request") {
  request req("SET", "k", "v");
  req.set_timeout(1s).set_idempotent(false);
  req.clear();
  CHECK(req.empty());
  CHECK(req.payload().empty());
  CHECK(req.expected_replies() == 0);
  CHECK_FALSE(req.timeout());
  req.push("GET", "k");
  CHECK(req.is_idempotent());
  CHECK(req.payload() == "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
}

TEST_CASE("reads are idempotent") {
  CHECK(request("GET", "k").is_idempotent());
  CHECK(request("MGET", "a", "b").is_idempotent());
  CHECK(request("hgetall", "h").is_idempotent());
  CHECK(request("PING").is_idempotent());
}

TEST_CASE("a plain SET is idempotent, with or without an expiry") {
  CHECK(request("SET", "k", "v").is_idempotent());
  CHECK(request("SET", "k", "v", "EX", 10).is_idempotent());
  CHECK(request("MSET", "a", 1, "b", 2).is_idempotent());
}

TEST_CASE("SET with NX, XX or GET is not idempotent") {
  CHECK_FALSE(request("SET", "k", "v", "NX").is_idempotent());
  CHECK_FALSE(request("SET", "k", "v", "EX", 10, "xx").is_idempotent());
  CHECK_FALSE(request("set", "k", "v", "get").is_idempotent());
}

TEST_CASE("a SET whose value looks like an option is still idempotent") {
  CHECK(request("SET", "k", "NX").is_idempotent());
}

TEST_CASE("writes that change state on every run are not idempotent") {
  CHECK_FALSE(request("INCR", "k").is_idempotent());
  CHECK_FALSE(request("LPUSH", "l", "x").is_idempotent());
  CHECK_FALSE(request("EVAL", "return 1", 0).is_idempotent());
  CHECK_FALSE(request("DEL", "k").is_idempotent());
}

TEST_CASE("set_idempotent overrides the classification") {
  CHECK(request("EVAL", "return 1", 0).set_idempotent(true).is_idempotent());
  CHECK_FALSE(request("GET", "k").set_idempotent(false).is_idempotent());
}

TEST_CASE("a pipeline is idempotent only if all its commands are") {
  request reads;
  reads.push("GET", "a").push("SET", "b", 1).push("TTL", "b");
  CHECK(reads.is_idempotent());
  request mixed;
  mixed.push("GET", "a").push("INCR", "b").push("GET", "c");
  CHECK_FALSE(mixed.is_idempotent());
}

TEST_CASE("set_timeout gives the request its own timeout") {
  request req("BLPOP", "q", 0);
  CHECK_FALSE(req.timeout());
  req.set_timeout(30s);
  REQUIRE(req.timeout());
  CHECK(*req.timeout() == 30s);
}

TEST_CASE("random binary arguments survive the round trip through the parser") {
  std::mt19937_64 rng(20240501);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> length(0, 40);
  std::uniform_int_distribution<int> arity(0, 8);
  std::uniform_int_distribution<int> commands_per_request(1, 5);
  auto random_bytes = [&] {
    std::string s(static_cast<std::size_t>(length(rng)), '\0');
    for (char& c : s) c = static_cast<char>(byte(rng));
    return s;
  };
  auto shortest = [](double d) {
    char buf[32];
    auto res = std::to_chars(buf, buf + sizeof buf, d);
    return std::string(buf, res.ptr);
  };
  for (int iteration = 0; iteration < 3000; ++iteration) {
    request req;
    std::vector<command> expected;
    const int n = commands_per_request(rng);
    for (int c = 0; c < n; ++c) {
      command cmd{random_bytes()};
      const std::string tail = random_bytes();
      const std::vector<char> tail_bytes(tail.begin(), tail.end());
      const auto number = static_cast<std::int64_t>(rng());
      if (rng() % 2 == 0) {
        std::vector<std::string> args;
        for (int a = arity(rng); a > 0; --a) args.push_back(random_bytes());
        req.push(cmd.front(), args, tail_bytes, number);
        cmd.insert(cmd.end(), args.begin(), args.end());
        cmd.insert(cmd.end(), {tail, std::to_string(number)});
      } else {
        const std::string first = random_bytes();
        const std::string second = random_bytes();
        double d = std::bit_cast<double>(rng());
        if (!std::isfinite(d)) d = 0.5;
        req.push(cmd.front(), first, std::string_view(second), tail_bytes, number, d);
        cmd.insert(cmd.end(), {first, second, tail, std::to_string(number), shortest(d)});
      }
      expected.push_back(std::move(cmd));
    }
    INFO("iteration " << iteration);
    REQUIRE(commands_of(req) == expected);
    REQUIRE(req.commands() == expected.size());
  }
}
