#include <redcoro/error.hpp>

#include <catch2/catch.hpp>

#include <system_error>

using redcoro::error;

TEST_CASE("error codes belong to the redcoro category and have messages") {
  const boost::system::error_code ec = error::request_timeout;
  CHECK(std::string(ec.category().name()) == "redcoro");
  CHECK(ec.message() == "request timed out");
}

TEST_CASE("error codes convert to std::error_code") {
  const std::error_code ec = error::wrong_type;
  CHECK(ec == error::wrong_type);
  CHECK(std::string(ec.category().name()) == "redcoro");
}

TEST_CASE("server error replies are classified by their prefix") {
  CHECK(redcoro::server_error_code("WRONGTYPE Operation against a key") == error::wrong_type);
  CHECK(redcoro::server_error_code("NOSCRIPT No matching script") == error::no_script);
  CHECK(redcoro::server_error_code("WRONGPASS invalid username-password pair") == error::auth_failed);
  CHECK(redcoro::server_error_code("ERR max number of clients reached") == error::max_clients);
  CHECK(redcoro::server_error_code("ERR unknown command") == error::server_error);
  CHECK(redcoro::server_error_code("BUSYGROUP Consumer Group name already exists") == error::server_error);
}

TEST_CASE("exceptions keep the detail text and the code") {
  auto ep = redcoro::make_exception(error::wrong_type, "WRONGTYPE Operation against a key");
  CHECK(redcoro::error_code_of(ep) == error::wrong_type);
  try {
    std::rethrow_exception(ep);
  } catch (const boost::system::system_error& e) {
    CHECK(std::string(e.what()).find("WRONGTYPE Operation against a key") == 0);
  }
}

TEST_CASE("only errors proving the request did not run are safe to resend") {
  CHECK(redcoro::is_safe_to_resend(error::connection_lost));
  CHECK_FALSE(redcoro::is_safe_to_resend(error::outcome_unknown));
  CHECK_FALSE(redcoro::is_safe_to_resend(error::request_timeout));
  CHECK_FALSE(redcoro::is_safe_to_resend(error::circuit_open));
}

TEST_CASE("message_of gives an exception's own text without the code's") {
  const boost::system::system_error detailed(error::wrong_type, "WRONGTYPE Operation against a key");
  const boost::system::system_error bare{boost::system::error_code(error::decode_failed)};
  const boost::system::system_error empty(error::decode_failed, "");
  CHECK(redcoro::message_of(detailed) == "WRONGTYPE Operation against a key");
  CHECK(redcoro::message_of(bare) == boost::system::error_code(error::decode_failed).message());
  CHECK(redcoro::message_of(empty) == boost::system::error_code(error::decode_failed).message());
}
