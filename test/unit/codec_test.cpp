#include <redcoro/codec.hpp>
#include <redcoro/error.hpp>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <bit>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using redcoro::decode;
using redcoro::encode;
using redcoro::error;
using namespace std::chrono;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace shop {

struct item {
  std::string name;
  int quantity = 0;
  friend bool operator==(const item&, const item&) = default;
};

void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const item& i) {
  jv = {{"name", i.name}, {"quantity", i.quantity}};
}

item tag_invoke(boost::json::value_to_tag<item>, const boost::json::value& jv) {
  const auto& o = jv.as_object();
  return {boost::json::value_to<std::string>(o.at("name")), boost::json::value_to<int>(o.at("quantity"))};
}

struct event {
  system_clock::time_point at;
  seconds ttl{};
  friend bool operator==(const event&, const event&) = default;
};

void tag_invoke(boost::json::value_from_tag, boost::json::value& jv, const event& e) {
  jv = {{"at", boost::json::value_from(e.at)}, {"ttl", boost::json::value_from(e.ttl)}};
}

event tag_invoke(boost::json::value_to_tag<event>, const boost::json::value& jv) {
  const auto& o = jv.as_object();
  return {boost::json::value_to<system_clock::time_point>(o.at("at")),
          boost::json::value_to<seconds>(o.at("ttl"))};
}

}  // namespace shop

namespace {

template <class T>
boost::system::system_error decode_error(std::string_view text) {
  try {
    (void)decode<T>(text);
  } catch (const boost::system::system_error& e) {
    return e;
  }
  FAIL("no exception decoding \"" << text << "\"");
  throw;
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

const system_clock::time_point sample_time =
    sys_days{year{2024} / 3 / 5} + 1h + 2min + 3s + 456789us;

}  // namespace

TEST_CASE("strings are stored as they are") {
  CHECK(encode(std::string("héllo")) == "héllo");
  CHECK(encode(std::string_view("a b")) == "a b");
  CHECK(encode("literal") == "literal");
  CHECK(decode<std::string>("as is") == "as is");
}

TEST_CASE("strings are binary safe") {
  const std::string binary = "\0\r\n\xff{\""s;
  CHECK(encode(binary) == binary);
  CHECK(decode<std::string>(binary) == binary);
}

TEST_CASE("byte buffers are stored as their bytes") {
  const std::vector<std::byte> bytes{std::byte{0}, std::byte{0xff}, std::byte{'a'}};
  const std::vector<unsigned char> uchars{0, 255, 'a'};
  const std::vector<char> chars{'\0', '\xff', 'a'};
  CHECK(encode(bytes) == "\0\xff"
                         "a"s);
  CHECK(encode(uchars) == encode(bytes));
  CHECK(encode(chars) == encode(bytes));
  CHECK(decode<std::vector<std::byte>>(encode(bytes)) == bytes);
  CHECK(decode<std::vector<unsigned char>>(encode(uchars)) == uchars);
  CHECK(decode<std::vector<char>>(encode(chars)) == chars);
}

TEST_CASE("integers are stored as decimal text") {
  CHECK(encode(42) == "42");
  CHECK(encode(-7L) == "-7");
  CHECK(encode(std::numeric_limits<std::int64_t>::min()) == "-9223372036854775808");
  CHECK(encode(std::numeric_limits<std::uint64_t>::max()) == "18446744073709551615");
  CHECK(decode<int>("42") == 42);
  CHECK(decode<std::int64_t>("-9223372036854775808") == std::numeric_limits<std::int64_t>::min());
  CHECK(decode<std::uint64_t>("18446744073709551615") == std::numeric_limits<std::uint64_t>::max());
}

TEST_CASE("an integer may be read with a plus sign") {
  CHECK(decode<int>("+42") == 42);
}

TEST_CASE("an integer that does not fit the type fails to decode") {
  auto e = decode_error<std::uint8_t>("300");
  CHECK(e.code() == error::decode_failed);
  CHECK(contains(e.what(), "out of range"));
  CHECK(decode_error<unsigned>("-1").code() == error::decode_failed);
}

TEST_CASE("text that is not an integer fails to decode, naming the type") {
  for (std::string_view text : {"abc", "", "1.5", " 1", "1 ", "+-1", "+", "0x10"}) {
    INFO('"' << text << '"');
    auto e = decode_error<int>(text);
    CHECK(e.code() == error::decode_failed);
    CHECK(contains(e.what(), "integer"));
  }
  CHECK(contains(decode_error<int>("abc").what(), "\"abc\""));
}

TEST_CASE("doubles are stored in their shortest round-trip form") {
  CHECK(encode(0.1) == "0.1");
  CHECK(encode(1.0) == "1");
  CHECK(encode(-2.5e-300) == "-2.5e-300");
  CHECK(decode<double>("0.1") == 0.1);
  CHECK(decode<double>("+1.5") == 1.5);
}

TEST_CASE("doubles round-trip exactly") {
  std::mt19937_64 rng(99);
  for (int i = 0; i < 5000; ++i) {
    const double d = std::bit_cast<double>(rng());
    if (std::isnan(d)) continue;
    INFO(encode(d));
    REQUIRE(std::bit_cast<std::uint64_t>(decode<double>(encode(d))) == std::bit_cast<std::uint64_t>(d));
  }
}

TEST_CASE("infinities and nan are stored as inf, -inf and nan") {
  CHECK(encode(std::numeric_limits<double>::infinity()) == "inf");
  CHECK(encode(-std::numeric_limits<double>::infinity()) == "-inf");
  CHECK(decode<double>("-inf") == -std::numeric_limits<double>::infinity());
  CHECK(std::isnan(decode<double>(encode(std::numeric_limits<double>::quiet_NaN()))));
}

TEST_CASE("text that is not a number fails to decode as a double") {
  auto e = decode_error<double>("1.5x");
  CHECK(e.code() == error::decode_failed);
  CHECK(contains(e.what(), "number"));
}

TEST_CASE("bool is stored as JSON true and false") {
  CHECK(encode(true) == "true");
  CHECK(encode(false) == "false");
  CHECK(decode<bool>("true"));
  CHECK_FALSE(decode<bool>("false"));
}

TEST_CASE("bool does not decode from 1 or 0") {
  CHECK(decode_error<bool>("1").code() == error::decode_failed);
}

TEST_CASE("a user type with tag_invoke is stored as JSON") {
  CHECK(encode(shop::item{"pen", 3}) == R"({"name":"pen","quantity":3})");
  CHECK(decode<shop::item>(R"({"quantity":3,"name":"pen"})") == shop::item{"pen", 3});
}

TEST_CASE("containers of user types are stored as JSON arrays and objects") {
  const std::vector<shop::item> items{{"a", 1}, {"b", 2}};
  const std::map<std::string, shop::item> by_name{{"x", {"x", 9}}};
  CHECK(encode(items) == R"([{"name":"a","quantity":1},{"name":"b","quantity":2}])");
  CHECK(decode<std::vector<shop::item>>(encode(items)) == items);
  CHECK(encode(by_name) == R"({"x":{"name":"x","quantity":9}})");
  CHECK(decode<std::map<std::string, shop::item>>(encode(by_name)) == by_name);
}

TEST_CASE("invalid JSON fails to decode") {
  auto e = decode_error<shop::item>("{\"name\":");
  CHECK(e.code() == error::decode_failed);
  CHECK(contains(e.what(), "JSON"));
  CHECK(contains(e.what(), "{\"name\":"));
}

TEST_CASE("JSON of the wrong shape fails to decode, naming the requested type") {
  auto e = decode_error<shop::item>(R"({"name":"pen"})");
  CHECK(e.code() == error::decode_failed);
  CHECK(contains(e.what(), "JSON of the requested type"));
  CHECK(decode_error<std::vector<int>>(R"({"a":1})").code() == error::decode_failed);
}

TEST_CASE("a time point is stored as ISO 8601 UTC with microseconds") {
  CHECK(encode(sample_time) == "2024-03-05T01:02:03.456789Z");
  CHECK(encode(sys_days{year{1970} / 1 / 1}) == "1970-01-01T00:00:00.000000Z");
}

TEST_CASE("a time point round-trips at microsecond precision") {
  CHECK(decode<system_clock::time_point>(encode(sample_time)) == sample_time);
  const auto before_epoch = sys_days{year{1969} / 12 / 31} + 23h + 59min + 59s + 999999us;
  CHECK(encode(before_epoch) == "1969-12-31T23:59:59.999999Z");
  CHECK(decode<system_clock::time_point>(encode(before_epoch)) == before_epoch);
}

TEST_CASE("a time point is truncated to microseconds") {
  const auto t = sys_days{year{2024} / 1 / 1} + 1234567ns;
  CHECK(encode(t) == "2024-01-01T00:00:00.001234Z");
}

TEST_CASE("time points of coarser precision round-trip") {
  const sys_seconds t = floor<seconds>(sample_time);
  CHECK(decode<sys_seconds>(encode(t)) == t);
  CHECK(decode<sys_days>("2024-03-05T00:00:00Z") == sys_days{year{2024} / 3 / 5});
}

TEST_CASE("a time point decodes without a fraction and with a +00:00 offset") {
  const auto whole = floor<seconds>(sample_time);
  CHECK(decode<system_clock::time_point>("2024-03-05T01:02:03Z") == whole);
  CHECK(decode<system_clock::time_point>("2024-03-05T01:02:03+00:00") == whole);
  CHECK(decode<system_clock::time_point>("2024-03-05T01:02:03") == whole);
  CHECK(decode<system_clock::time_point>("2024-03-05 01:02:03.5Z") == whole + 500ms);
  CHECK(decode<system_clock::time_point>("2024-03-05T01:02:03.456789+00:00") == sample_time);
}

TEST_CASE("malformed time points fail to decode") {
  for (std::string_view text :
       {"", "2024-03-05", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-03-05T24:00:00Z",
        "2024-03-05T-1:00:00Z", "2024-03-05T01:-2:03Z", "2024-03-05T01:02:03+01:00",
        "2024-03-05T01:02:03.Z", "2024/03/05T01:02:03Z", "yesterday"}) {
    INFO('"' << text << '"');
    auto e = decode_error<system_clock::time_point>(text);
    CHECK(e.code() == error::decode_failed);
    CHECK(contains(e.what(), "ISO 8601"));
  }
}

TEST_CASE("durations are stored as their tick count") {
  CHECK(encode(5s) == "5");
  CHECK(encode(250ms) == "250");
  CHECK(decode<milliseconds>("250") == 250ms);
  CHECK(decode<minutes>(encode(3min)) == 3min);
}

TEST_CASE("time points and durations nested in a user type are JSON strings and numbers") {
  const shop::event e{sample_time, 30s};
  CHECK(encode(e) == R"({"at":"2024-03-05T01:02:03.456789Z","ttl":30})");
  CHECK(decode<shop::event>(encode(e)) == e);
}

TEST_CASE("a nested time point that is not ISO 8601 fails to decode") {
  CHECK(decode_error<shop::event>(R"({"at":"soon","ttl":1})").code() == error::decode_failed);
  CHECK(decode_error<shop::event>(R"({"at":5,"ttl":1})").code() == error::decode_failed);
}

TEST_CASE("encode_to appends to what is there") {
  std::string out = "x=";
  redcoro::encode_to(out, 12);
  redcoro::encode_to(out, std::string_view(";"));
  CHECK(out == "x=12;");
}
