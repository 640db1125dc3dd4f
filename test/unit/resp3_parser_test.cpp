#include <redcoro/detail/reply_builder.hpp>
#include <redcoro/error.hpp>
#include <redcoro/reply.hpp>
#include <redcoro/resp3_parser.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <deque>
#include <initializer_list>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

using redcoro::error;
using redcoro::reply;
using redcoro::resp3::parser;
using redcoro::resp3::parser_limits;
using redcoro::resp3::type;

namespace {

struct owned_node {
  type data_type;
  std::size_t aggregate_size;
  std::size_t depth;
  bool in_attribute;
  std::string value;
  bool done;

  friend bool operator==(const owned_node&, const owned_node&) = default;
  friend std::ostream& operator<<(std::ostream& os, const owned_node& n) {
    return os << "{'" << static_cast<char>(n.data_type) << "' size=" << n.aggregate_size
              << " depth=" << n.depth << " attr=" << n.in_attribute << " value=\"" << n.value
              << "\" done=" << n.done << "}";
  }
};

struct parse_result {
  std::vector<owned_node> nodes;
  boost::system::error_code ec;
  std::size_t unconsumed = 0;
};

// Feeds `input` in chunks of the given sizes (the rest in one last chunk), the way a
// connection does: parse what is buffered, drop the consumed bytes, read more.
parse_result parse_chunks(std::string_view input, const std::vector<std::size_t>& chunks,
                          parser_limits limits = {}) {
  parser p(limits);
  parse_result out;
  std::string buffer;
  std::size_t fed = 0;
  std::size_t chunk = 0;
  while (fed < input.size() || chunk == 0) {
    std::size_t n = chunk < chunks.size() ? chunks[chunk] : input.size() - fed;
    n = std::min(n, input.size() - fed);
    buffer.append(input.substr(fed, n));
    fed += n;
    ++chunk;
    for (;;) {
      std::size_t consumed = 0;
      auto node = p.next(buffer, consumed, out.ec);
      if (out.ec) {
        out.unconsumed = buffer.size();
        return out;
      }
      if (!node) break;
      out.nodes.push_back({node->data_type, node->aggregate_size, node->depth,
                           node->in_attribute, std::string(node->value), p.done()});
      buffer.erase(0, consumed);
    }
    if (fed == input.size()) break;
  }
  out.unconsumed = buffer.size();
  return out;
}

parse_result parse(std::string_view input, parser_limits limits = {}) {
  return parse_chunks(input, {}, limits);
}

parse_result parse_bytewise(std::string_view input, parser_limits limits = {}) {
  return parse_chunks(input, std::vector<std::size_t>(input.size(), 1), limits);
}

boost::system::error_code parse_error(std::string_view input, parser_limits limits = {}) {
  return parse(input, limits).ec;
}

// Every complete top-level reply in `input`, built with reply_builder.
std::vector<reply> build(std::string_view input, parser_limits limits = {}) {
  parser p(limits);
  std::deque<reply> replies;
  redcoro::detail::reply_builder builder;
  bool in_reply = false;
  for (;;) {
    std::size_t consumed = 0;
    boost::system::error_code ec;
    auto node = p.next(input, consumed, ec);
    REQUIRE_FALSE(ec);
    if (!node) break;
    if (!in_reply) {
      builder.start(replies.emplace_back());
      in_reply = true;
    }
    builder.add(*node);
    if (p.done()) in_reply = false;
    input.remove_prefix(consumed);
  }
  REQUIRE(input.empty());
  REQUIRE_FALSE(in_reply);
  return {replies.begin(), replies.end()};
}

reply build_one(std::string_view input) {
  auto replies = build(input);
  REQUIRE(replies.size() == 1);
  return replies.front();
}

reply agg(type t, std::initializer_list<reply> elements) {
  reply r(t);
  r.mutable_elements().assign(elements.begin(), elements.end());
  return r;
}

reply str(std::string_view s) { return reply(type::simple_string, std::string(s)); }
reply blob(std::string_view s) { return reply(type::bulk_string, std::string(s)); }
reply num(std::int64_t v) { return reply::from_integer(v); }

std::string nested_arrays(std::size_t depth) {
  std::string s;
  for (std::size_t i = 0; i < depth; ++i) s += "*1\r\n";
  return s + ":1\r\n";
}

using namespace std::string_literals;

// One reply of every type, and aggregates mixing them.
const std::vector<std::string> corpus = {
    "+OK\r\n",
    "-ERR unknown command 'foo'\r\n",
    ":0\r\n",
    ":-42\r\n",
    ":+7\r\n",
    "$5\r\nhello\r\n",
    "$0\r\n\r\n",
    "$8\r\na\r\nb\0\r\nc\r\n"s,
    "$-1\r\n",
    "*-1\r\n",
    "_\r\n",
    ",3.14\r\n",
    ",-1.5e-10\r\n",
    ",inf\r\n",
    ",-inf\r\n",
    ",nan\r\n",
    "#t\r\n",
    "#f\r\n",
    "(3492890328409238509324850943850943825024385\r\n",
    "!21\r\nSYNTAX invalid syntax\r\n",
    "=15\r\ntxt:Some string\r\n",
    "*0\r\n",
    "%0\r\n",
    "~0\r\n",
    "*3\r\n:1\r\n$3\r\nfoo\r\n_\r\n",
    "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
    "~2\r\n+a\r\n+b\r\n",
    ">3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$5\r\nhello\r\n",
    "*2\r\n*2\r\n:1\r\n*0\r\n%1\r\n+k\r\n~1\r\n#t\r\n",
    "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n"
    "*2\r\n:2039123\r\n:9545\r\n",
    "*2\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n:2\r\n",
    "|1\r\n+a\r\n|1\r\n+b\r\n+c\r\n+d\r\n+OK\r\n",
};

std::string whole_corpus() {
  std::string all;
  for (const auto& r : corpus) all += r;
  return all;
}

}  // namespace

TEST_CASE("a simple string gives its text") {
  auto r = parse("+OK\r\n");
  REQUIRE_FALSE(r.ec);
  REQUIRE(r.nodes == std::vector<owned_node>{{type::simple_string, 0, 0, false, "OK", true}});
}

TEST_CASE("a simple error gives its message") {
  auto r = parse("-WRONGTYPE Operation against a key\r\n");
  REQUIRE(r.nodes.size() == 1);
  CHECK(r.nodes[0].data_type == type::simple_error);
  CHECK(r.nodes[0].value == "WRONGTYPE Operation against a key");
}

TEST_CASE("integers may be negative or carry a plus sign") {
  CHECK(build_one(":1000\r\n").integer() == 1000);
  CHECK(build_one(":-1000\r\n").integer() == -1000);
  CHECK(build_one(":+1000\r\n").integer() == 1000);
  CHECK(build_one(":9223372036854775807\r\n").integer() == INT64_MAX);
  CHECK(build_one(":-9223372036854775808\r\n").integer() == INT64_MIN);
}

TEST_CASE("a bulk string gives its bytes") {
  auto r = parse("$5\r\nhello\r\n");
  REQUIRE(r.nodes == std::vector<owned_node>{{type::bulk_string, 0, 0, false, "hello", true}});
}

TEST_CASE("an empty bulk string is empty, not null") {
  auto r = parse("$0\r\n\r\n");
  REQUIRE(r.nodes == std::vector<owned_node>{{type::bulk_string, 0, 0, false, "", true}});
}

TEST_CASE("a bulk string is binary safe, CRLF and NUL included") {
  auto r = parse("$8\r\na\r\nb\0\r\nc\r\n"s);
  REQUIRE(r.nodes.size() == 1);
  CHECK(r.nodes[0].value == "a\r\nb\0\r\nc"s);
}

TEST_CASE("the RESP3 null is a null node") {
  auto r = parse("_\r\n");
  REQUIRE(r.nodes == std::vector<owned_node>{{type::null, 0, 0, false, "", true}});
}

TEST_CASE("the RESP2 null bulk string and null array are null nodes") {
  CHECK(parse("$-1\r\n").nodes == std::vector<owned_node>{{type::null, 0, 0, false, "", true}});
  CHECK(parse("*-1\r\n").nodes == std::vector<owned_node>{{type::null, 0, 0, false, "", true}});
}

TEST_CASE("doubles include exponents, infinities and nan") {
  CHECK(build_one(",3.14\r\n").number() == 3.14);
  CHECK(build_one(",-1.5e-10\r\n").number() == -1.5e-10);
  CHECK(build_one(",1E3\r\n").number() == 1000.0);
  CHECK(build_one(",10\r\n").number() == 10.0);
  CHECK(build_one(",inf\r\n").number() == HUGE_VAL);
  CHECK(build_one(",-inf\r\n").number() == -HUGE_VAL);
  CHECK(std::isnan(build_one(",nan\r\n").number()));
}

TEST_CASE("booleans are t and f") {
  CHECK(build_one("#t\r\n").boolean());
  CHECK_FALSE(build_one("#f\r\n").boolean());
}

TEST_CASE("a big number keeps all its digits") {
  auto r = build_one("(-3492890328409238509324850943850943825024385\r\n");
  CHECK(r.type() == type::big_number);
  CHECK(r.str() == "-3492890328409238509324850943850943825024385");
}

TEST_CASE("a verbatim string keeps its format prefix in the node") {
  auto r = parse("=15\r\ntxt:Some string\r\n");
  REQUIRE(r.nodes ==
          std::vector<owned_node>{{type::verbatim_string, 0, 0, false, "txt:Some string", true}});
  CHECK(build_one("=15\r\ntxt:Some string\r\n").str() == "Some string");
}

TEST_CASE("a blob error gives its message") {
  auto r = parse("!21\r\nSYNTAX invalid syntax\r\n");
  REQUIRE(r.nodes ==
          std::vector<owned_node>{{type::blob_error, 0, 0, false, "SYNTAX invalid syntax", true}});
}

TEST_CASE("an array gives its header and then its elements one level deeper") {
  auto r = parse("*2\r\n:1\r\n$3\r\nfoo\r\n");
  REQUIRE(r.nodes == std::vector<owned_node>{{type::array, 2, 0, false, "", false},
                                             {type::integer, 0, 1, false, "1", false},
                                             {type::bulk_string, 0, 1, false, "foo", true}});
}

TEST_CASE("a map declares pairs and holds alternating keys and values") {
  auto r = parse("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n");
  REQUIRE(r.nodes.size() == 5);
  CHECK(r.nodes[0] == owned_node{type::map, 2, 0, false, "", false});
  CHECK(r.nodes[4] == owned_node{type::integer, 0, 1, false, "2", true});
  CHECK(build_one("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n") ==
        agg(type::map, {str("first"), num(1), str("second"), num(2)}));
}

TEST_CASE("a set gives its members") {
  CHECK(build_one("~3\r\n+a\r\n+b\r\n:3\r\n") == agg(type::set, {str("a"), str("b"), num(3)}));
}

TEST_CASE("a push message gives its kind and payload") {
  CHECK(build_one(">3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$5\r\nhello\r\n") ==
        agg(type::push, {blob("message"), blob("chan"), blob("hello")}));
}

TEST_CASE("empty aggregates complete the reply at once") {
  for (std::string_view input : {"*0\r\n", "%0\r\n", "~0\r\n", ">0\r\n"}) {
    INFO(input);
    auto r = parse(input);
    REQUIRE(r.nodes.size() == 1);
    CHECK(r.nodes[0].aggregate_size == 0);
    CHECK(r.nodes[0].done);
  }
}

TEST_CASE("nested aggregates give the depth of every node") {
  auto r = parse("*2\r\n*2\r\n:1\r\n*0\r\n%1\r\n+k\r\n~1\r\n#t\r\n");
  REQUIRE_FALSE(r.ec);
  std::vector<std::size_t> depths;
  for (const auto& n : r.nodes) depths.push_back(n.depth);
  CHECK(depths == std::vector<std::size_t>{0, 1, 2, 2, 1, 2, 2, 3});
  CHECK(build_one("*2\r\n*2\r\n:1\r\n*0\r\n%1\r\n+k\r\n~1\r\n#t\r\n") ==
        agg(type::array, {agg(type::array, {num(1), agg(type::array, {})}),
                          agg(type::map, {str("k"), agg(type::set, {reply::from_bool(true)})})}));
}

TEST_CASE("an attribute before a reply is flagged and does not complete it") {
  auto r = parse(
      "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n"
      "*2\r\n:2039123\r\n:9545\r\n");
  REQUIRE_FALSE(r.ec);
  REQUIRE(r.nodes.size() == 10);
  for (std::size_t i = 0; i < 7; ++i) {
    INFO(r.nodes[i]);
    CHECK(r.nodes[i].in_attribute);
    CHECK_FALSE(r.nodes[i].done);
  }
  CHECK(r.nodes[0] == owned_node{type::attribute, 1, 0, true, "", false});
  CHECK(r.nodes[2] == owned_node{type::map, 2, 1, true, "", false});
  CHECK(r.nodes[4] == owned_node{type::double_type, 0, 2, true, "0.1923", false});
  CHECK(r.nodes[7] == owned_node{type::array, 2, 0, false, "", false});
  CHECK(r.nodes[8] == owned_node{type::integer, 0, 1, false, "2039123", false});
  CHECK(r.nodes[9] == owned_node{type::integer, 0, 1, false, "9545", true});
}

TEST_CASE("the reply builder drops attributes") {
  CHECK(build_one("|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n"
                  "*2\r\n:2039123\r\n:9545\r\n") ==
        agg(type::array, {num(2039123), num(9545)}));
}

TEST_CASE("an attribute inside an aggregate is not one of its elements") {
  auto r = parse("*2\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n:2\r\n");
  REQUIRE_FALSE(r.ec);
  REQUIRE(r.nodes.size() == 6);
  CHECK(r.nodes[1] == owned_node{type::attribute, 1, 1, true, "", false});
  CHECK(r.nodes[2] == owned_node{type::simple_string, 0, 2, true, "ttl", false});
  CHECK(r.nodes[3] == owned_node{type::integer, 0, 2, true, "3600", false});
  CHECK(r.nodes[4] == owned_node{type::bulk_string, 0, 1, false, "v", false});
  CHECK(r.nodes[5] == owned_node{type::integer, 0, 1, false, "2", true});
  CHECK(build_one("*2\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n:2\r\n") ==
        agg(type::array, {blob("v"), num(2)}));
}

TEST_CASE("an attribute ending in an aggregate closes with it") {
  CHECK(build_one("|1\r\n+k\r\n*2\r\n:1\r\n:2\r\n+OK\r\n") == str("OK"));
}

TEST_CASE("an empty attribute annotates the next reply") {
  auto r = parse("|0\r\n:5\r\n");
  REQUIRE(r.nodes.size() == 2);
  CHECK_FALSE(r.nodes[0].done);
  CHECK(r.nodes[1] == owned_node{type::integer, 0, 0, false, "5", true});
}

TEST_CASE("an attribute nested in an attribute is flagged too") {
  auto r = parse("|1\r\n+a\r\n|1\r\n+b\r\n+c\r\n+d\r\n+OK\r\n");
  REQUIRE_FALSE(r.ec);
  REQUIRE(r.nodes.size() == 7);
  for (std::size_t i = 0; i < 6; ++i) CHECK(r.nodes[i].in_attribute);
  CHECK(r.nodes[6] == owned_node{type::simple_string, 0, 0, false, "OK", true});
}

TEST_CASE("several replies in one buffer are parsed one after the other") {
  auto r = parse("+OK\r\n:1\r\n*1\r\n$1\r\nx\r\n_\r\n");
  REQUIRE_FALSE(r.ec);
  std::vector<bool> done;
  for (const auto& n : r.nodes) done.push_back(n.done);
  CHECK(done == std::vector<bool>{true, true, false, true, true});
  CHECK(build("+OK\r\n:1\r\n*1\r\n$1\r\nx\r\n_\r\n") ==
        std::vector<reply>{str("OK"), num(1), agg(type::array, {blob("x")}), reply()});
}

TEST_CASE("the whole corpus parses into one reply per entry") {
  CHECK(build(whole_corpus()).size() == corpus.size());
}

TEST_CASE("an incomplete node consumes nothing") {
  parser p;
  std::size_t consumed = 99;
  boost::system::error_code ec;
  for (std::string_view partial : {"", "+O", "+OK", "+OK\r", "$5\r\nhel", "$5\r\nhello\r", ":1"}) {
    INFO(partial);
    CHECK_FALSE(p.next(partial, consumed, ec));
    CHECK(consumed == 0);
    CHECK_FALSE(ec);
  }
}

TEST_CASE("every entry of the corpus parses the same when split at any point") {
  for (const auto& input : corpus) {
    const auto whole = parse(input);
    REQUIRE_FALSE(whole.ec);
    for (std::size_t cut = 0; cut <= input.size(); ++cut) {
      INFO(input << " cut at " << cut);
      const auto split = parse_chunks(input, {cut});
      REQUIRE_FALSE(split.ec);
      REQUIRE(split.nodes == whole.nodes);
      REQUIRE(split.unconsumed == 0);
    }
  }
}

TEST_CASE("the concatenated corpus parses the same when split at any point") {
  const std::string input = whole_corpus();
  const auto whole = parse(input);
  REQUIRE_FALSE(whole.ec);
  for (std::size_t cut = 0; cut <= input.size(); ++cut) {
    INFO("cut at " << cut);
    REQUIRE(parse_chunks(input, {cut}).nodes == whole.nodes);
  }
}

TEST_CASE("the corpus parses the same when fed one byte at a time") {
  const std::string input = whole_corpus();
  const auto bytewise = parse_bytewise(input);
  REQUIRE_FALSE(bytewise.ec);
  CHECK(bytewise.nodes == parse(input).nodes);
}

TEST_CASE("the corpus parses the same when split at two points") {
  const std::string input = whole_corpus();
  const auto whole = parse(input).nodes;
  for (std::size_t a = 0; a <= input.size(); a += 7)
    for (std::size_t b = 0; a + b <= input.size(); b += 5) {
      INFO("chunks " << a << ", " << b);
      REQUIRE(parse_chunks(input, {a, b}).nodes == whole);
    }
}

TEST_CASE("bytes_needed gives the size of a bulk string once its header is seen") {
  parser p;
  std::size_t consumed = 0;
  boost::system::error_code ec;
  CHECK_FALSE(p.next("$10\r\nabc", consumed, ec));
  CHECK(p.bytes_needed() == 17);
  CHECK_FALSE(p.next("$10\r\nabcdefghij\r", consumed, ec));
  CHECK(p.bytes_needed() == 17);
  auto n = p.next("$10\r\nabcdefghij\r\n", consumed, ec);
  REQUIRE(n);
  CHECK(consumed == 17);
  CHECK(p.bytes_needed() == 0);
}

TEST_CASE("bytes_needed is zero while a header is incomplete") {
  parser p;
  std::size_t consumed = 0;
  boost::system::error_code ec;
  CHECK_FALSE(p.next("$10", consumed, ec));
  CHECK(p.bytes_needed() == 0);
}

TEST_CASE("an unknown type byte is rejected") {
  CHECK(parse_error("?5\r\n") == error::invalid_type_byte);
  CHECK(parse_error("hello\r\n") == error::invalid_type_byte);
  CHECK(parse_error("\r\n") == error::invalid_type_byte);
}

TEST_CASE("an unknown type byte is rejected before its line is complete") {
  CHECK(parse_error("x") == error::invalid_type_byte);
}

TEST_CASE("a bad bulk length is rejected") {
  for (std::string_view input : {"$abc\r\n", "$\r\n", "$-2\r\n", "$1x\r\n", "$ 1\r\n",
                                 "$99999999999999999999\r\n", "!-1\r\n", "=-1\r\n"}) {
    INFO(input);
    CHECK(parse_error(input) == error::invalid_length);
  }
}

TEST_CASE("a bad aggregate length is rejected") {
  for (std::string_view input : {"*abc\r\n", "*\r\n", "*-2\r\n", "%-1\r\n", "~-1\r\n", ">-1\r\n",
                                 "|-1\r\n", "*99999999999999999999\r\n", "*4294967297\r\n"}) {
    INFO(input);
    CHECK(parse_error(input) == error::invalid_length);
  }
}

TEST_CASE("a verbatim string without its three-letter format is rejected") {
  CHECK(parse_error("=3\r\ntxt\r\n") == error::invalid_length);
  CHECK(parse_error("=5\r\nhello\r\n") == error::invalid_length);
}

TEST_CASE("a non-numeric integer is rejected") {
  for (std::string_view input : {":abc\r\n", ":\r\n", ":1.5\r\n", ":12a\r\n", ":+\r\n", ":-\r\n",
                                 ":+-5\r\n", ":9223372036854775808\r\n", ": 1\r\n"}) {
    INFO(input);
    CHECK(parse_error(input) == error::invalid_number);
  }
}

TEST_CASE("a malformed double or big number is rejected") {
  for (std::string_view input : {",\r\n", ",abc\r\n", ",1.5x\r\n", ",+-1\r\n", "(\r\n", "(12a\r\n",
                                 "(-\r\n", "(1.5\r\n"}) {
    INFO(input);
    CHECK(parse_error(input) == error::invalid_number);
  }
}

TEST_CASE("a boolean other than t or f is rejected") {
  for (std::string_view input : {"#x\r\n", "#\r\n", "#tt\r\n", "#true\r\n", "#T\r\n"}) {
    INFO(input);
    CHECK(parse_error(input) == error::invalid_boolean);
  }
}

TEST_CASE("a null with a payload is rejected") {
  CHECK(parse_error("_x\r\n") == error::invalid_line);
}

TEST_CASE("a CR not followed by LF is rejected") {
  CHECK(parse_error("+OK\rX") == error::invalid_line);
  CHECK(parse_error(":1\r:") == error::invalid_line);
  CHECK(parse_error("$3\rabc\r\n") == error::invalid_line);
}

TEST_CASE("a bulk string without its trailing CRLF is rejected") {
  CHECK(parse_error("$3\r\nabcXY") == error::invalid_line);
  CHECK(parse_error("$3\r\nabc\rX") == error::invalid_line);
  CHECK(parse_error("$3\r\nabcd\r\n") == error::invalid_line);
}

TEST_CASE("a push message inside an aggregate is rejected") {
  CHECK(parse_error("*1\r\n>1\r\n+x\r\n") == error::invalid_type_byte);
}

TEST_CASE("nesting at exactly the default limit is accepted") {
  const auto r = parse(nested_arrays(parser_limits{}.max_depth));
  REQUIRE_FALSE(r.ec);
  CHECK(r.nodes.back().done);
}

TEST_CASE("nesting deeper than the default limit is rejected") {
  CHECK(parse_error(nested_arrays(parser_limits{}.max_depth + 1)) == error::nesting_too_deep);
}

TEST_CASE("the nesting limit is configurable") {
  parser_limits limits;
  limits.max_depth = 2;
  CHECK_FALSE(parse(nested_arrays(2), limits).ec);
  CHECK(parse_error(nested_arrays(3), limits) == error::nesting_too_deep);
  CHECK(parse_error("*1\r\n%1\r\n+k\r\n~1\r\n:1\r\n", limits) == error::nesting_too_deep);
}

TEST_CASE("attributes count towards the nesting limit") {
  parser_limits limits;
  limits.max_depth = 1;
  CHECK(parse_error("*1\r\n|1\r\n+k\r\n+v\r\n:1\r\n", limits) == error::nesting_too_deep);
}

TEST_CASE("nesting is rejected as soon as the too-deep header arrives") {
  parser_limits limits;
  limits.max_depth = 1;
  CHECK(parse_error("*1\r\n*1\r\n", limits) == error::nesting_too_deep);
}

TEST_CASE("a bulk string larger than the limit is rejected from its header alone") {
  parser_limits limits;
  limits.max_bulk_size = 10;
  CHECK_FALSE(parse("$10\r\n0123456789\r\n", limits).ec);
  CHECK(parse_error("$11\r\n", limits) == error::bulk_too_large);
  CHECK(parse_error("!11\r\n", limits) == error::bulk_too_large);
  CHECK(parse_error("=11\r\n", limits) == error::bulk_too_large);
}

TEST_CASE("the default bulk limit is 512 MiB") {
  CHECK_FALSE(parse("$536870912\r\n").ec);
  CHECK(parse_error("$536870913\r\n") == error::bulk_too_large);
}

TEST_CASE("a line longer than the bulk limit is rejected whether or not its end arrived") {
  parser_limits limits;
  limits.max_bulk_size = 4;
  CHECK_FALSE(parse("+abcd\r\n", limits).ec);
  CHECK(parse_error("+abcde", limits) == error::invalid_line);
  CHECK(parse_error("+abcde\r\n", limits) == error::invalid_line);
  CHECK(parse_bytewise("+abcde\r\n", limits).ec == error::invalid_line);
}

TEST_CASE("after an error the parser stays failed with the same error") {
  parser p;
  std::size_t consumed = 0;
  boost::system::error_code ec;
  CHECK_FALSE(p.next("#x\r\n", consumed, ec));
  CHECK(ec == error::invalid_boolean);
  ec.clear();
  CHECK_FALSE(p.next("+OK\r\n", consumed, ec));
  CHECK(ec == error::invalid_boolean);
  CHECK(consumed == 0);
}

TEST_CASE("reset clears a failed parser") {
  parser p;
  std::size_t consumed = 0;
  boost::system::error_code ec;
  CHECK_FALSE(p.next("#x\r\n", consumed, ec));
  p.reset();
  ec.clear();
  auto n = p.next("+OK\r\n", consumed, ec);
  CHECK_FALSE(ec);
  REQUIRE(n);
  CHECK(n->value == "OK");
  CHECK(p.done());
}

TEST_CASE("an error inside an aggregate is reported at the bad element") {
  auto r = parse("*3\r\n:1\r\n:x\r\n:3\r\n");
  CHECK(r.ec == error::invalid_number);
  CHECK(r.nodes.size() == 2);
}

TEST_CASE("done is true only after the last element of a top-level reply") {
  parser p;
  std::size_t consumed = 0;
  boost::system::error_code ec;
  std::string_view input = "*2\r\n:1\r\n:2\r\n";
  std::vector<bool> done;
  while (auto n = p.next(input, consumed, ec)) {
    done.push_back(p.done());
    input.remove_prefix(consumed);
  }
  CHECK(done == std::vector<bool>{false, false, true});
}

TEST_CASE("the limits are kept") {
  parser_limits limits;
  limits.max_depth = 7;
  limits.max_bulk_size = 99;
  parser p(limits);
  CHECK(p.limits().max_depth == 7);
  CHECK(p.limits().max_bulk_size == 99);
}

TEST_CASE("type names are readable") {
  CHECK(redcoro::resp3::to_string(type::bulk_string) == "bulk string");
  CHECK(redcoro::resp3::to_string(type::map) == "map");
  CHECK(redcoro::resp3::to_string(type::verbatim_string) == "verbatim string");
}
