#include <redcoro/config.hpp>
#include <redcoro/error.hpp>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>
#include <string_view>

using redcoro::config;
using redcoro::error;
using namespace std::chrono_literals;

namespace {

// The message of the invalid_url error that from_url(url) throws.
std::string url_error(std::string_view url) {
  try {
    (void)config::from_url(url);
  } catch (const boost::system::system_error& e) {
    CHECK(e.code() == error::invalid_url);
    return e.what();
  }
  FAIL("no error for " << url);
  return {};
}

// The message of the invalid_config error that c.validate() throws.
std::string config_error(const config& c) {
  try {
    c.validate();
  } catch (const boost::system::system_error& e) {
    CHECK(e.code() == error::invalid_config);
    return e.what();
  }
  FAIL("no error");
  return {};
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

}  // namespace

TEST_CASE("a redis URL gives the host and port, without TLS") {
  const auto c = config::from_url("redis://cache.example.com:6380");
  CHECK(c.host == "cache.example.com");
  CHECK(c.port == 6380);
  CHECK_FALSE(c.tls.enabled);
  CHECK(c.unix_socket.empty());
  CHECK(c.db == 0);
  CHECK(c.username.empty());
  CHECK(c.password.empty());
}

TEST_CASE("the port defaults to 6379") {
  CHECK(config::from_url("redis://localhost").port == 6379);
  CHECK(config::from_url("rediss://localhost/").port == 6379);
}

TEST_CASE("an IPv4 address is a host") {
  const auto c = config::from_url("redis://10.0.0.7:7000");
  CHECK(c.host == "10.0.0.7");
  CHECK(c.port == 7000);
}

TEST_CASE("a rediss URL enables TLS") {
  const auto c = config::from_url("rediss://secure.example.com:6390");
  CHECK(c.tls.enabled);
  CHECK(c.tls.verify_peer);
  CHECK(c.host == "secure.example.com");
  CHECK(c.port == 6390);
}

TEST_CASE("the scheme is case-insensitive") {
  CHECK(config::from_url("REDIS://h").host == "h");
  CHECK(config::from_url("Rediss://h").tls.enabled);
}

TEST_CASE("an IPv6 host is given without its brackets") {
  const auto c = config::from_url("redis://[::1]:6380");
  CHECK(c.host == "::1");
  CHECK(c.port == 6380);
  CHECK(config::from_url("redis://[2001:db8::7]").host == "2001:db8::7");
  CHECK(config::from_url("redis://[2001:db8::7]").port == 6379);
}

TEST_CASE("a percent-encoded host name is decoded") {
  CHECK(config::from_url("redis://my%2Dhost").host == "my-host");
}

TEST_CASE("user and password are read from the user info") {
  const auto c = config::from_url("redis://alice:s3cret@h");
  CHECK(c.username == "alice");
  CHECK(c.password == "s3cret");
}

TEST_CASE("a password alone leaves the user name empty") {
  const auto c = config::from_url("redis://:s3cret@h:1234");
  CHECK(c.username.empty());
  CHECK(c.password == "s3cret");
  CHECK(c.port == 1234);
}

TEST_CASE("a user name without a colon sets only the user name") {
  const auto c = config::from_url("redis://alice@h");
  CHECK(c.username == "alice");
  CHECK(c.password.empty());
}

TEST_CASE("user and password are percent-decoded") {
  const auto c = config::from_url("redis://us%40er:p%40ss%3Aw%2Fo%25rd@h");
  CHECK(c.username == "us@er");
  CHECK(c.password == "p@ss:w/o%rd");
}

TEST_CASE("a plus in the password stays a plus") {
  CHECK(config::from_url("redis://:a+b@h").password == "a+b");
  CHECK(config::from_url("unix:///s?password=a+b").password == "a+b");
}

TEST_CASE("the path selects the database") {
  CHECK(config::from_url("redis://h/3").db == 3);
  CHECK(config::from_url("redis://h:6380/15").db == 15);
}

TEST_CASE("an empty path or a lone slash selects database 0") {
  CHECK(config::from_url("redis://h").db == 0);
  CHECK(config::from_url("redis://h/").db == 0);
}

TEST_CASE("a database path that is not a number is rejected") {
  CHECK(contains(url_error("redis://h/abc"), "\"abc\" in the path is not a number"));
  CHECK(contains(url_error("redis://h/1x"), "not a number"));
  CHECK(contains(url_error("redis://h/1/2"), "not a database number"));
  CHECK(contains(url_error("redis://h/99999999999"), "out of range"));
}

TEST_CASE("a negative database is rejected") {
  CHECK(contains(url_error("redis://h/-1"), "is negative"));
  CHECK(contains(url_error("redis://h?db=-2"), "is negative"));
}

TEST_CASE("the db option selects the database") {
  CHECK(config::from_url("redis://h?db=4").db == 4);
}

TEST_CASE("a db option contradicting the path is rejected") {
  const auto msg = url_error("redis://h/1?db=2");
  CHECK(contains(msg, "both in the path (1) and as option db (2)"));
}

TEST_CASE("a db option agreeing with the path is accepted") {
  CHECK(config::from_url("redis://h/2?db=2").db == 2);
}

TEST_CASE("a db option that is not a number is rejected") {
  CHECK(contains(url_error("redis://h?db=x"), "\"x\" in option db is not a number"));
  CHECK(contains(url_error("redis://h?db="), "not a number"));
}

TEST_CASE("client_name sets the client name") {
  CHECK(config::from_url("redis://h?client_name=worker%201").client_name == "worker 1");
}

TEST_CASE("timeouts accept ms, s, m and h units") {
  CHECK(config::from_url("redis://h?connect_timeout=250ms").connect_timeout == 250ms);
  CHECK(config::from_url("redis://h?connect_timeout=5s").connect_timeout == 5s);
  CHECK(config::from_url("redis://h?request_timeout=1m").request_timeout == 1min);
  CHECK(config::from_url("redis://h?request_timeout=2h").request_timeout == 2h);
}

TEST_CASE("a timeout without a unit is in seconds") {
  CHECK(config::from_url("redis://h?request_timeout=3").request_timeout == 3s);
  CHECK(config::from_url("redis://h?request_timeout=0").request_timeout == 0ms);
}

TEST_CASE("a fractional timeout is converted exactly to milliseconds") {
  CHECK(config::from_url("redis://h?connect_timeout=1.5s").connect_timeout == 1500ms);
  CHECK(config::from_url("redis://h?connect_timeout=0.3").connect_timeout == 300ms);
  CHECK(config::from_url("redis://h?connect_timeout=.25").connect_timeout == 250ms);
  CHECK(config::from_url("redis://h?connect_timeout=0.5m").connect_timeout == 30s);
}

TEST_CASE("a positive timeout below a millisecond becomes one millisecond") {
  CHECK(config::from_url("redis://h?request_timeout=0.1ms").request_timeout == 1ms);
}

TEST_CASE("a malformed timeout is rejected naming the option and the value") {
  for (std::string_view value : {"", "x", "5x", "-1s", "1.5.2s", "5%20s", "s", "1.", "ms", "1e3", "5S"}) {
    INFO(value);
    const auto msg = url_error("redis://h?connect_timeout=" + std::string(value));
    CHECK(contains(msg, "connect_timeout"));
  }
  CHECK(contains(url_error("redis://h?request_timeout=5x"), "bad duration \"5x\""));
}

TEST_CASE("an absurdly long timeout is rejected") {
  CHECK(contains(url_error("redis://h?request_timeout=99999999999999999999h"), "too large"));
}

TEST_CASE("protocol accepts 2 and 3 only") {
  CHECK(config::from_url("redis://h?protocol=2").protocol == 2);
  CHECK(config::from_url("redis://h?protocol=3").protocol == 3);
  CHECK(contains(url_error("redis://h?protocol=4"), "protocol"));
  CHECK(contains(url_error("redis://h?protocol=resp3"), "not 2 or 3"));
}

TEST_CASE("TLS options are read from a rediss URL") {
  const auto c = config::from_url(
      "rediss://h?ca_file=/etc/ca.pem&ca_dir=/etc/certs&cert_file=/c.pem&key_file=/k.pem"
      "&verify_peer=false&server_name=redis.internal");
  CHECK(c.tls.ca_file == "/etc/ca.pem");
  CHECK(c.tls.ca_dir == "/etc/certs");
  CHECK(c.tls.cert_file == "/c.pem");
  CHECK(c.tls.key_file == "/k.pem");
  CHECK_FALSE(c.tls.verify_peer);
  CHECK(c.tls.server_name == "redis.internal");
}

TEST_CASE("verify_peer accepts true/false, 1/0 and yes/no") {
  for (std::string_view yes : {"true", "1", "yes", "TRUE", "Yes"})
    CHECK(config::from_url("rediss://h?verify_peer=" + std::string(yes)).tls.verify_peer);
  for (std::string_view no : {"false", "0", "no", "False", "NO"})
    CHECK_FALSE(config::from_url("rediss://h?verify_peer=" + std::string(no)).tls.verify_peer);
}

TEST_CASE("verify_peer rejects other values") {
  CHECK(contains(url_error("rediss://h?verify_peer=maybe"), "\"maybe\" is not a boolean"));
}

TEST_CASE("a TLS option on a non-TLS URL is rejected") {
  for (std::string_view option :
       {"ca_file=/a", "ca_dir=/d", "cert_file=/c", "key_file=/k", "verify_peer=false", "server_name=x"}) {
    INFO(option);
    const auto msg = url_error("redis://h?" + std::string(option));
    CHECK(contains(msg, option.substr(0, option.find('='))));
    CHECK(contains(msg, "TLS"));
  }
  CHECK(contains(url_error("unix:///s?ca_file=/a"), "TLS"));
}

TEST_CASE("an unknown option is rejected naming it") {
  const auto msg = url_error("redis://h?request_timeuot=5s");
  CHECK(contains(msg, "unknown option \"request_timeuot\""));
}

TEST_CASE("options are case-sensitive") {
  CHECK(contains(url_error("redis://h?DB=1"), "unknown option \"DB\""));
}

TEST_CASE("an option given twice is rejected") {
  CHECK(contains(url_error("redis://h?protocol=2&protocol=3"), "option protocol is given more than once"));
}

TEST_CASE("an option without a value is rejected") {
  CHECK(contains(url_error("rediss://h?verify_peer"), "option verify_peer has no value"));
  CHECK(contains(url_error("redis://h?db"), "option db has no value"));
}

TEST_CASE("empty query parts are ignored") {
  CHECK(config::from_url("redis://h?").db == 0);
  CHECK(config::from_url("redis://h?&db=3&").db == 3);
}

TEST_CASE("an unknown scheme is rejected naming the expected ones") {
  const auto msg = url_error("http://h:6379");
  CHECK(contains(msg, "unknown scheme \"http\""));
  CHECK(contains(msg, "redis://, rediss:// or unix://"));
}

TEST_CASE("a URL without a scheme is rejected") {
  CHECK(contains(url_error("localhost:6379"), "unknown scheme \"localhost\""));
  CHECK(contains(url_error("//h:6379"), "no scheme"));
  CHECK(contains(url_error("/tmp/redis.sock"), "no scheme"));
}

TEST_CASE("an empty URL is rejected") {
  CHECK(contains(url_error(""), "the URL is empty"));
}

TEST_CASE("a URL without a host is rejected") {
  CHECK(contains(url_error("redis://"), "empty host"));
  CHECK(contains(url_error("redis://:6379"), "empty host"));
  CHECK(contains(url_error("redis://user:pw@/0"), "empty host"));
  CHECK(contains(url_error("redis:h"), "no host"));
}

TEST_CASE("a port that is not a number is rejected") {
  CHECK(contains(url_error("redis://h:abc"), "port \"abc\" is not a number"));
  CHECK(contains(url_error("redis://[::1]:6x"), "port \"6x\" is not a number"));
}

TEST_CASE("port 0 and ports above 65535 are rejected") {
  CHECK(contains(url_error("redis://h:0"), "port 0 is out of range"));
  CHECK(contains(url_error("redis://h:65536"), "port 65536 is out of range"));
  CHECK(contains(url_error("redis://h:99999999999999999999999"), "out of range"));
  CHECK(config::from_url("redis://h:65535").port == 65535);
}

TEST_CASE("an empty port after the colon is rejected") {
  CHECK(contains(url_error("redis://h:"), "empty port"));
}

TEST_CASE("malformed percent-encoding is rejected") {
  CHECK(contains(url_error("redis://us%zzer@h"), "percent-encoding"));
  CHECK(contains(url_error("redis://h?client_name=a%2"), "percent-encoding"));
  CHECK(contains(url_error("redis://h/%"), "percent-encoding"));
}

TEST_CASE("an unencoded @ or / in the password is rejected") {
  for (std::string_view url : {"redis://:p@ss@h:6379/0", "redis://u:p/ss@h"}) {
    INFO(url);
    const auto msg = url_error(url);
    CHECK(contains(msg, "percent-encode"));
    CHECK(contains(msg, ":***@h"));
  }
}

TEST_CASE("a fragment is rejected") {
  CHECK(contains(url_error("redis://h/0#x"), "fragment"));
}

TEST_CASE("error messages quote the URL with the password hidden") {
  const auto msg = url_error("redis://alice:hunter2@h:0");
  CHECK(contains(msg, "\"redis://alice:***@h:0\""));
  CHECK_FALSE(contains(msg, "hunter2"));
}

TEST_CASE("the password is hidden even when the URL does not parse") {
  for (std::string_view url : {"redis://:hunter2@h:abc", "redis://:hun@ter2@h", "redis://:hunter2@h/x y",
                               "redis://:hunter2%zz@h", "redis://:hun/ter2@h", "redis://:hunter2@h?db=x"}) {
    INFO(url);
    const auto msg = url_error(url);
    CHECK_FALSE(contains(msg, "hunter2"));
    CHECK(contains(msg, "***"));
  }
}

TEST_CASE("a password option is hidden in error messages") {
  const auto msg = url_error("unix:///s?password=hunter2&db=x");
  CHECK_FALSE(contains(msg, "hunter2"));
  CHECK(contains(msg, "password=***&db=x"));
}

TEST_CASE("a unix URL gives the socket path") {
  const auto c = config::from_url("unix:///var/run/redis/redis.sock");
  CHECK(c.unix_socket == "/var/run/redis/redis.sock");
  CHECK_FALSE(c.tls.enabled);
  CHECK(c.db == 0);
}

TEST_CASE("redis+unix is an alias of unix") {
  CHECK(config::from_url("redis+unix:///tmp/r.sock").unix_socket == "/tmp/r.sock");
}

TEST_CASE("a unix URL may omit the empty authority") {
  CHECK(config::from_url("unix:/tmp/r.sock").unix_socket == "/tmp/r.sock");
}

TEST_CASE("a unix URL takes db, username and password as options") {
  const auto c = config::from_url("unix:///tmp/r.sock?db=2&username=bob&password=p%26w");
  CHECK(c.unix_socket == "/tmp/r.sock");
  CHECK(c.db == 2);
  CHECK(c.username == "bob");
  CHECK(c.password == "p&w");
}

TEST_CASE("a unix URL may carry credentials in its user info") {
  const auto c = config::from_url("unix://bob:pw@/tmp/r.sock");
  CHECK(c.username == "bob");
  CHECK(c.password == "pw");
  CHECK(c.unix_socket == "/tmp/r.sock");
}

TEST_CASE("a password given both in the user info and as an option is rejected") {
  CHECK(contains(url_error("redis://:a@h?password=b"), "password is given both"));
  CHECK(contains(url_error("redis://u@h?username=v"), "user name is given both"));
}

TEST_CASE("the socket path is percent-decoded") {
  CHECK(config::from_url("unix:///tmp/my%20redis.sock").unix_socket == "/tmp/my redis.sock");
}

TEST_CASE("a unix URL without a path is rejected") {
  CHECK(contains(url_error("unix://"), "no socket path"));
  CHECK(contains(url_error("unix:?db=1"), "no socket path"));
}

TEST_CASE("a unix URL with a host or a port is rejected") {
  CHECK(contains(url_error("unix://tmp/r.sock"), "has no host"));
  CHECK(contains(url_error("unix://:6379/tmp/r.sock"), "no port"));
}

TEST_CASE("from_env gives the default config when the variable is unset") {
  ::unsetenv("REDCORO_TEST_UNSET_URL");
  const auto c = config::from_env("REDCORO_TEST_UNSET_URL");
  CHECK(c.host == config{}.host);
  CHECK(c.port == 6379);
}

TEST_CASE("from_env parses the variable") {
  ::setenv("REDCORO_TEST_URL", "rediss://:pw@envhost:7001/5", 1);
  const auto c = config::from_env("REDCORO_TEST_URL");
  CHECK(c.host == "envhost");
  CHECK(c.port == 7001);
  CHECK(c.db == 5);
  CHECK(c.password == "pw");
  CHECK(c.tls.enabled);
  ::unsetenv("REDCORO_TEST_URL");
}

TEST_CASE("from_env errors name the variable and hide the password") {
  ::setenv("REDCORO_TEST_BAD_URL", "redis://:hunter2@h:0", 1);
  std::string msg;
  try {
    (void)config::from_env("REDCORO_TEST_BAD_URL");
  } catch (const boost::system::system_error& e) {
    CHECK(e.code() == error::invalid_url);
    msg = e.what();
  }
  ::unsetenv("REDCORO_TEST_BAD_URL");
  CHECK(contains(msg, "REDCORO_TEST_BAD_URL"));
  CHECK(contains(msg, "port 0"));
  CHECK_FALSE(contains(msg, "hunter2"));
}

TEST_CASE("a parsed URL gives a valid config") {
  CHECK_NOTHROW(config::from_url("rediss://u:p@[::1]:6380/2?request_timeout=1s").validate());
  CHECK_NOTHROW(config::from_url("unix:///tmp/r.sock?db=1").validate());
}

TEST_CASE("the default config is valid") {
  CHECK_NOTHROW(config{}.validate());
}

TEST_CASE("validate rejects a negative connect timeout") {
  config c;
  c.connect_timeout = -1ms;
  CHECK(contains(config_error(c), "connect_timeout"));
}

TEST_CASE("validate rejects a negative request timeout") {
  config c;
  c.request_timeout = -1ms;
  CHECK(contains(config_error(c), "request_timeout"));
}

TEST_CASE("validate accepts zero timeouts") {
  config c;
  c.request_timeout = 0ms;
  CHECK_NOTHROW(c.validate());
}

TEST_CASE("validate rejects a negative database") {
  config c;
  c.db = -1;
  CHECK(contains(config_error(c), "db"));
}

TEST_CASE("validate rejects protocols other than 2 and 3") {
  config c;
  c.protocol = 4;
  CHECK(contains(config_error(c), "protocol"));
  c.protocol = 2;
  CHECK_NOTHROW(c.validate());
}

TEST_CASE("validate rejects port 0 without a unix socket") {
  config c;
  c.port = 0;
  CHECK(contains(config_error(c), "port"));
  c.unix_socket = "/tmp/r.sock";
  CHECK_NOTHROW(c.validate());
}

TEST_CASE("validate rejects an empty host without a unix socket") {
  config c;
  c.host.clear();
  CHECK(contains(config_error(c), "host"));
  c.unix_socket = "/tmp/r.sock";
  CHECK_NOTHROW(c.validate());
}

TEST_CASE("validate rejects a max_depth of 0 or above 1024") {
  config c;
  c.limits.max_depth = 0;
  CHECK(contains(config_error(c), "limits.max_depth"));
  c.limits.max_depth = 1025;
  CHECK(contains(config_error(c), "limits.max_depth"));
  c.limits.max_depth = 1024;
  CHECK_NOTHROW(c.validate());
}

TEST_CASE("validate rejects a max_bulk_size of 0") {
  config c;
  c.limits.max_bulk_size = 0;
  CHECK(contains(config_error(c), "limits.max_bulk_size"));
}

TEST_CASE("validate rejects a max_argument_size of 0") {
  config c;
  c.max_argument_size = 0;
  CHECK(contains(config_error(c), "max_argument_size"));
}

TEST_CASE("validate rejects a keepalive count below 1 when keepalive is enabled") {
  config c;
  c.keepalive.count = 0;
  CHECK(contains(config_error(c), "keepalive.count"));
  c.keepalive.enabled = false;
  CHECK_NOTHROW(c.validate());
}

TEST_CASE("validate rejects keepalive intervals below a second when keepalive is enabled") {
  config c;
  c.keepalive.idle = 0s;
  CHECK(contains(config_error(c), "keepalive.idle"));
  c.keepalive.idle = 30s;
  c.keepalive.interval = -1s;
  CHECK(contains(config_error(c), "keepalive.interval"));
}

TEST_CASE("validate allows TLS over a unix socket") {
  config c;
  c.unix_socket = "/tmp/r.sock";
  c.tls.enabled = true;
  CHECK_NOTHROW(c.validate());
}

TEST_CASE("validate rejects a client certificate without its key and vice versa") {
  config c;
  c.tls.cert_file = "/c.pem";
  CHECK(contains(config_error(c), "tls.cert_file is set without tls.key_file"));
  c.tls.cert_file.clear();
  c.tls.key_file = "/k.pem";
  CHECK(contains(config_error(c), "tls.key_file is set without tls.cert_file"));
  c.tls.cert_file = "/c.pem";
  CHECK_NOTHROW(c.validate());
}

TEST_CASE("validate rejects a client name the server would refuse") {
  config c;
  c.client_name = "has space";
  CHECK(contains(config_error(c), "client_name"));
  c.client_name = "line\nbreak";
  CHECK(contains(config_error(c), "client_name"));
  c.client_name = "worker-1";
  CHECK_NOTHROW(c.validate());
}

TEST_CASE("validate names the first invalid field") {
  config c;
  c.port = 0;
  c.protocol = 9;
  const auto msg = config_error(c);
  CHECK(contains(msg, "port"));
  CHECK_FALSE(contains(msg, "protocol"));
}

TEST_CASE("address gives host:port") {
  CHECK(config::from_url("redis://h:7000").address() == "h:7000");
  CHECK(config{}.address() == "127.0.0.1:6379");
}

TEST_CASE("address puts an IPv6 host in brackets") {
  CHECK(config::from_url("redis://[::1]:6380").address() == "[::1]:6380");
}

TEST_CASE("address gives the socket path for a unix socket") {
  CHECK(config::from_url("unix:///tmp/r.sock").address() == "/tmp/r.sock");
}

TEST_CASE("address never includes credentials") {
  const auto address = config::from_url("redis://alice:hunter2@h:7000").address();
  CHECK(address == "h:7000");
}
