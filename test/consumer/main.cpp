// Builds against the installed headers and library: serializes a request, parses a reply.
#include <redcoro/connection.hpp>
#include <redcoro/detail/reply_builder.hpp>

#include <boost/asio/io_context.hpp>

#include <iostream>

int main() {
  boost::asio::io_context ioc;
  redcoro::connection conn(ioc.get_executor(), redcoro::config::from_url("redis://127.0.0.1:1/0"));
  const redcoro::request req("SET", "key", 42);
  if (req.payload() != "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$2\r\n42\r\n") return 1;

  redcoro::resp3::parser parser;
  redcoro::detail::reply_builder builder;
  redcoro::reply r;
  builder.start(r);
  std::size_t consumed = 0;
  boost::system::error_code ec;
  const std::string wire = ":42\r\n";
  auto node = parser.next(wire, consumed, ec);
  if (!node) return 1;
  builder.add(*node);
  if (r.as<int>() != 42) return 1;
  std::cout << "redcoro consumer: ok\n";
  return 0;
}
