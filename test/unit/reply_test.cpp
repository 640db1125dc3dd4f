#include <redcoro/detail/reply_builder.hpp>
#include <redcoro/error.hpp>
#include <redcoro/reply.hpp>
#include <redcoro/resp3_parser.hpp>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

using redcoro::error;
using redcoro::reply;
using redcoro::resp3::type;

namespace app {

struct user {
  std::string name;
  int age = 0;
  friend bool operator==(const user&, const user&) = default;
};

void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const user& u) {
  jv = {{"name", u.name}, {"age", u.age}};
}

user tag_invoke(boost::json::value_to_tag<user>, const boost::json::value& jv) {
  const auto& o = jv.as_object();
  return {boost::json::value_to<std::string>(o.at("name")), boost::json::value_to<int>(o.at("age"))};
}

}  // namespace app

namespace {

// Parses one complete reply.
reply parse(std::string_view input) {
  redcoro::resp3::parser p;
  redcoro::detail::reply_builder builder;
  reply r;
  builder.start(r);
  for (;;) {
    std::size_t consumed = 0;
    boost::system::error_code ec;
    auto n = p.next(input, consumed, ec);
    REQUIRE_FALSE(ec);
    REQUIRE(n);
    builder.add(*n);
    input.remove_prefix(consumed);
    if (p.done()) break;
  }
  REQUIRE(input.empty());
  return r;
}

std::string bulk(std::string_view payload) {
  return "$" + std::to_string(payload.size()) + "\r\n" + std::string(payload) + "\r\n";
}

// The exception thrown by r.as<T>().
template <class T>
boost::system::system_error conversion_error(const reply& r) {
  try {
    (void)r.as<T>();
  } catch (const boost::system::system_error& e) {
    return e;
  }
  FAIL("no exception");
  throw;
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

}  // namespace

TEST_CASE("strings convert to std::string") {
  CHECK(parse("+OK\r\n").as<std::string>() == "OK");
  CHECK(parse("$5\r\nhello\r\n").as<std::string>() == "hello");
  CHECK(parse("=15\r\ntxt:Some string\r\n").as<std::string>() == "Some string");
}

TEST_CASE("numbers convert to std::string as their wire text") {
  CHECK(parse(":42\r\n").as<std::string>() == "42");
  CHECK(parse(",1.5\r\n").as<std::string>() == "1.5");
  CHECK(parse("(123456789012345678901234567890\r\n").as<std::string>() ==
        "123456789012345678901234567890");
}

TEST_CASE("an aggregate does not convert to std::string") {
  auto e = conversion_error<std::string>(parse("*1\r\n:1\r\n"));
  CHECK(e.code() == error::unexpected_type);
  CHECK(contains(e.what(), "expected a string"));
  CHECK(contains(e.what(), "array"));
}

TEST_CASE("integers convert to every integral type in range") {
  CHECK(parse(":42\r\n").as<int>() == 42);
  CHECK(parse(":-42\r\n").as<std::int64_t>() == -42);
  CHECK(parse(":255\r\n").as<std::uint8_t>() == 255);
  CHECK(parse(":+7\r\n").as<int>() == 7);
  CHECK(parse(":9223372036854775807\r\n").as<std::int64_t>() == INT64_MAX);
}

TEST_CASE("numeric strings convert to integers") {
  CHECK(parse("$3\r\n123\r\n").as<int>() == 123);
  CHECK(parse("+-5\r\n").as<long>() == -5);
}

TEST_CASE("an integer out of the target's range throws out_of_range") {
  CHECK(conversion_error<std::uint8_t>(parse(":300\r\n")).code() == error::out_of_range);
  CHECK(conversion_error<std::int8_t>(parse(":-129\r\n")).code() == error::out_of_range);
  CHECK(conversion_error<unsigned>(parse(":-1\r\n")).code() == error::out_of_range);
  CHECK(conversion_error<std::int32_t>(parse(":2147483648\r\n")).code() == error::out_of_range);
  CHECK(conversion_error<std::int64_t>(parse("$20\r\n99999999999999999999\r\n")).code() ==
        error::out_of_range);
}

TEST_CASE("a failed conversion names the expected and the actual type") {
  auto e = conversion_error<int>(parse("$3\r\nabc\r\n"));
  CHECK(e.code() == error::unexpected_type);
  CHECK(contains(e.what(), "expected an integer"));
  CHECK(contains(e.what(), "bulk string"));
  CHECK(contains(e.what(), "\"abc\""));
}

TEST_CASE("a failed conversion quotes at most 40 characters of the value") {
  auto e = conversion_error<int>(parse(bulk(std::string(50, 'x'))));
  CHECK(contains(e.what(), std::string(40, 'x') + "...\""));
  CHECK_FALSE(contains(e.what(), std::string(41, 'x')));
}

TEST_CASE("a signed-looking text does not convert to an integer twice signed") {
  CHECK(conversion_error<int>(parse("+-+5\r\n")).code() == error::unexpected_type);
  CHECK(conversion_error<int>(parse(bulk("++5"))).code() == error::unexpected_type);
  CHECK(conversion_error<int>(parse(bulk("+-5"))).code() == error::unexpected_type);
  CHECK(conversion_error<int>(parse("$0\r\n\r\n")).code() == error::unexpected_type);
}

TEST_CASE("doubles, integers and numeric strings convert to double") {
  CHECK(parse(",3.25\r\n").as<double>() == 3.25);
  CHECK(parse(":3\r\n").as<double>() == 3.0);
  CHECK(parse("$4\r\n2.50\r\n").as<double>() == 2.5);
  CHECK(parse("$4\r\n+inf\r\n").as<double>() == HUGE_VAL);
  CHECK(parse(",-inf\r\n").as<float>() == -HUGE_VALF);
  CHECK(std::isnan(parse(",nan\r\n").as<double>()));
}

TEST_CASE("a non-numeric string does not convert to double") {
  auto e = conversion_error<double>(parse("+abc\r\n"));
  CHECK(e.code() == error::unexpected_type);
  CHECK(contains(e.what(), "expected a number"));
}

TEST_CASE("booleans, integers and 0/1/true/false strings convert to bool") {
  CHECK(parse("#t\r\n").as<bool>());
  CHECK_FALSE(parse("#f\r\n").as<bool>());
  CHECK(parse(":1\r\n").as<bool>());
  CHECK_FALSE(parse(":0\r\n").as<bool>());
  CHECK(parse("$4\r\ntrue\r\n").as<bool>());
  CHECK_FALSE(parse("+0\r\n").as<bool>());
}

TEST_CASE("other strings do not convert to bool") {
  auto e = conversion_error<bool>(parse("+yes\r\n"));
  CHECK(e.code() == error::unexpected_type);
  CHECK(contains(e.what(), "expected a boolean"));
}

TEST_CASE("null converts to an empty optional") {
  CHECK(parse("_\r\n").as<std::optional<std::string>>() == std::nullopt);
  CHECK(parse("$-1\r\n").as<std::optional<int>>() == std::nullopt);
  CHECK(parse(":5\r\n").as<std::optional<int>>() == 5);
}

TEST_CASE("null into a non-optional throws unexpected_null") {
  CHECK(conversion_error<std::string>(parse("_\r\n")).code() == error::unexpected_null);
  CHECK(conversion_error<int>(parse("$-1\r\n")).code() == error::unexpected_null);
  CHECK(conversion_error<std::vector<int>>(parse("*-1\r\n")).code() == error::unexpected_null);
}

TEST_CASE("nulls inside an aggregate convert to empty optionals") {
  CHECK(parse("*3\r\n$1\r\na\r\n_\r\n$1\r\nc\r\n").as<std::vector<std::optional<std::string>>>() ==
        std::vector<std::optional<std::string>>{"a", std::nullopt, "c"});
}

TEST_CASE("arrays, sets and pushes convert to sequences") {
  CHECK(parse("*3\r\n:1\r\n:2\r\n:3\r\n").as<std::vector<int>>() == std::vector<int>{1, 2, 3});
  CHECK(parse("~2\r\n+a\r\n+b\r\n").as<std::list<std::string>>() ==
        std::list<std::string>{"a", "b"});
  CHECK(parse(">2\r\n+message\r\n+x\r\n").as<std::deque<std::string>>() ==
        std::deque<std::string>{"message", "x"});
  CHECK(parse("*0\r\n").as<std::vector<int>>().empty());
}

TEST_CASE("aggregates convert to sets") {
  CHECK(parse("*3\r\n+b\r\n+a\r\n+b\r\n").as<std::set<std::string>>() ==
        std::set<std::string>{"a", "b"});
}

TEST_CASE("an element that does not convert fails the whole sequence") {
  CHECK(conversion_error<std::vector<int>>(parse("*2\r\n:1\r\n+x\r\n")).code() ==
        error::unexpected_type);
}

TEST_CASE("a scalar does not convert to a sequence") {
  CHECK(conversion_error<std::vector<int>>(parse(":1\r\n")).code() == error::unexpected_type);
}

TEST_CASE("a RESP3 map converts to a map") {
  CHECK(parse("%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n").as<std::map<std::string, int>>() ==
        std::map<std::string, int>{{"a", 1}, {"b", 2}});
}

TEST_CASE("a flat RESP2 array of keys and values converts to a map") {
  CHECK(parse("*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n")
            .as<std::unordered_map<std::string, int>>() ==
        std::unordered_map<std::string, int>{{"a", 1}, {"b", 2}});
}

TEST_CASE("an array of odd length does not convert to a map") {
  auto e = conversion_error<std::map<std::string, int>>(parse("*3\r\n+a\r\n:1\r\n+b\r\n"));
  CHECK(e.code() == error::size_mismatch);
}

TEST_CASE("a two-element aggregate converts to a pair") {
  CHECK(parse("*2\r\n+a\r\n:1\r\n").as<std::pair<std::string, int>>() ==
        std::pair<std::string, int>{"a", 1});
  CHECK(parse("%1\r\n+k\r\n+v\r\n").as<std::pair<std::string, std::string>>() ==
        std::pair<std::string, std::string>{"k", "v"});
}

TEST_CASE("an aggregate converts to a tuple of the same size") {
  CHECK(parse("*3\r\n+a\r\n:1\r\n,2.5\r\n").as<std::tuple<std::string, int, double>>() ==
        std::tuple<std::string, int, double>{"a", 1, 2.5});
}

TEST_CASE("a tuple of another size throws size_mismatch") {
  auto e = conversion_error<std::tuple<int, int>>(parse("*3\r\n:1\r\n:2\r\n:3\r\n"));
  CHECK(e.code() == error::size_mismatch);
  CHECK(contains(e.what(), "2 elements"));
  CHECK(conversion_error<std::pair<int, int>>(parse("*1\r\n:1\r\n")).code() == error::size_mismatch);
}

TEST_CASE("a scalar does not convert to a tuple") {
  CHECK(conversion_error<std::tuple<int>>(parse(":1\r\n")).code() == error::unexpected_type);
}

TEST_CASE("replies convert to structural JSON") {
  const auto jv = parse("%3\r\n+a\r\n*2\r\n:1\r\n,1.5\r\n+b\r\n#t\r\n+c\r\n_\r\n")
                      .as<boost::json::value>();
  CHECK(jv == boost::json::parse(R"({"a":[1,1.5],"b":true,"c":null})"));
}

TEST_CASE("a user type converts from JSON text in a bulk string") {
  CHECK(parse(bulk(R"({"name":"ann","age":30})")).as<app::user>() == app::user{"ann", 30});
}

TEST_CASE("a user type converts from a map reply") {
  CHECK(parse("%2\r\n+name\r\n+bob\r\n+age\r\n:41\r\n").as<app::user>() == app::user{"bob", 41});
}

TEST_CASE("optional user types and sequences of them convert") {
  CHECK(parse("_\r\n").as<std::optional<app::user>>() == std::nullopt);
  CHECK(parse("*1\r\n" + bulk(R"({"name":"c","age":1})")).as<std::vector<app::user>>() ==
        std::vector<app::user>{{"c", 1}});
}

TEST_CASE("a map reply missing a field of a user type throws decode_failed") {
  CHECK(conversion_error<app::user>(parse("%1\r\n+name\r\n+bob\r\n")).code() ==
        error::decode_failed);
}

TEST_CASE("bad JSON text for a user type throws decode_failed") {
  auto e = conversion_error<app::user>(parse("$5\r\n{nope\r\n"));
  CHECK(e.code() == error::decode_failed);
  CHECK(contains(e.what(), "{nope"));
}

TEST_CASE("a JSON array in a string converts to a sequence") {
  CHECK(parse("$7\r\n[1,2,3]\r\n").as<std::vector<int>>() == std::vector<int>{1, 2, 3});
}

TEST_CASE("ignore accepts any reply but an error") {
  CHECK(parse("*2\r\n:1\r\n_\r\n").as<redcoro::ignore_t>() == redcoro::ignore);
  CHECK(parse("_\r\n").as<redcoro::ignore_t>() == redcoro::ignore);
  CHECK(conversion_error<redcoro::ignore_t>(parse("-ERR no\r\n")).code() == error::server_error);
}

TEST_CASE("an error reply throws with the server's message and mapped code") {
  const reply r = parse("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
  auto e = conversion_error<std::string>(r);
  CHECK(e.code() == error::wrong_type);
  CHECK(std::string_view(e.what()).starts_with(
      "WRONGTYPE Operation against a key holding the wrong kind of value"));
}

TEST_CASE("a blob error throws like a simple error") {
  auto e = conversion_error<int>(parse("!10\r\nNOSCRIPT x\r\n"));
  CHECK(e.code() == error::no_script);
  CHECK(std::string_view(e.what()).starts_with("NOSCRIPT x"));
}

TEST_CASE("an error reply throws even into an optional or JSON") {
  CHECK(conversion_error<std::optional<int>>(parse("-ERR x\r\n")).code() == error::server_error);
  CHECK(conversion_error<boost::json::value>(parse("-ERR x\r\n")).code() == error::server_error);
}

TEST_CASE("an error inside an aggregate throws when its element is converted") {
  auto e = conversion_error<std::vector<int>>(parse("*2\r\n:1\r\n-ERR inner\r\n"));
  CHECK(e.code() == error::server_error);
  CHECK(std::string_view(e.what()).starts_with("ERR inner"));
}

TEST_CASE("an error reply converts to reply itself") {
  const reply r = parse("-ERR x\r\n");
  CHECK(r.as<reply>().is_error());
  CHECK_THROWS_AS(r.throw_if_error(), boost::system::system_error);
}

TEST_CASE("as on an lvalue leaves the reply intact") {
  const reply r = parse("$5\r\nhello\r\n");
  CHECK(r.as<std::string>() == "hello");
  CHECK(r.str() == "hello");
}

TEST_CASE("find gives the value for a key of a map") {
  const reply r = parse("%2\r\n+a\r\n:1\r\n$1\r\nb\r\n:2\r\n");
  REQUIRE(r.find("b"));
  CHECK(r.find("b")->integer() == 2);
  CHECK(r.find("c") == nullptr);
}

TEST_CASE("find on something other than a map gives nullptr") {
  CHECK(parse("*2\r\n+a\r\n:1\r\n").find("a") == nullptr);
  CHECK(parse("+a\r\n").find("a") == nullptr);
}

TEST_CASE("operator[] gives elements and throws past the end") {
  const reply r = parse("*2\r\n:1\r\n:2\r\n");
  CHECK(r[1].integer() == 2);
  try {
    (void)r[2];
    FAIL("no exception");
  } catch (const boost::system::system_error& e) {
    CHECK(e.code() == error::size_mismatch);
  }
}

TEST_CASE("size counts pairs for maps and elements otherwise") {
  CHECK(parse("%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n").size() == 2);
  CHECK(parse("%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n").elements().size() == 4);
  CHECK(parse("*3\r\n:1\r\n:2\r\n:3\r\n").size() == 3);
  CHECK(parse("+x\r\n").size() == 0);
}

TEST_CASE("str of a verbatim string strips its format") {
  CHECK(parse("=15\r\ntxt:Some string\r\n").str() == "Some string");
  CHECK(parse("=4\r\nmkd:\r\n").str() == "");
}

TEST_CASE("typed accessors throw on other types") {
  CHECK_THROWS_AS(parse("+1\r\n").integer(), boost::system::system_error);
  CHECK_THROWS_AS(parse(":1\r\n").number(), boost::system::system_error);
  CHECK_THROWS_AS(parse(":1\r\n").boolean(), boost::system::system_error);
}

TEST_CASE("to_json gives maps as objects and other aggregates as arrays") {
  CHECK(parse("~2\r\n+a\r\n:1\r\n").to_json() == boost::json::parse(R"(["a",1])"));
  CHECK(parse(">1\r\n+a\r\n").to_json() == boost::json::parse(R"(["a"])"));
  CHECK(parse("%1\r\n:1\r\n=7\r\ntxt:abc\r\n").to_json() == boost::json::parse(R"({"1":"abc"})"));
  CHECK(parse("(12345678901234567890123\r\n").to_json() == "12345678901234567890123");
}

TEST_CASE("to_json writes an aggregate key as its JSON text") {
  CHECK(parse("%1\r\n*2\r\n:1\r\n:2\r\n+v\r\n").to_json() == boost::json::parse(R"({"[1,2]":"v"})"));
}

TEST_CASE("replies built from values equal parsed ones") {
  CHECK(reply::from_integer(-5) == parse(":-5\r\n"));
  CHECK(reply::from_double(2.5) == parse(",2.5\r\n"));
  CHECK(reply::from_bool(false) == parse("#f\r\n"));
  CHECK(reply() == parse("_\r\n"));
}

TEST_CASE("error classification helpers recognise error replies") {
  CHECK(parse("-ERR x\r\n").is_error());
  CHECK(parse("!1\r\nx\r\n").is_error());
  CHECK_FALSE(parse("+x\r\n").is_error());
  CHECK(parse("=5\r\ntxt:x\r\n").is_string());
  CHECK(parse("~0\r\n").is_aggregate());
  CHECK(parse("$-1\r\n").is_null());
}
