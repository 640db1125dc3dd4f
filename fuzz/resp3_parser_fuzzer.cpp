// Feeds arbitrary bytes to the RESP3 parser: whole, split at a point derived from the input,
// and one byte at a time (for short inputs), with the default limits and with small ones.
// Every way of feeding must give the same nodes, the same replies and the same error.
#include <redcoro/detail/reply_builder.hpp>
#include <redcoro/reply.hpp>
#include <redcoro/resp3_parser.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using redcoro::reply;
using redcoro::resp3::parser;
using redcoro::resp3::parser_limits;

struct owned_node {
  redcoro::resp3::type data_type;
  std::size_t aggregate_size;
  std::size_t depth;
  bool in_attribute;
  std::string value;
  bool done;
  friend bool operator==(const owned_node&, const owned_node&) = default;
};

struct outcome {
  std::vector<owned_node> nodes;
  std::deque<reply> replies;
  boost::system::error_code ec;
  std::size_t consumed = 0;
};

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "resp3_parser_fuzzer: %s\n", what);
    std::abort();
  }
}

// Feeds `input` as chunks of `chunk` bytes after a first chunk of `first` bytes, keeping
// unconsumed bytes in a buffer as a connection does.
outcome run(std::string_view input, parser_limits limits, std::size_t first, std::size_t chunk) {
  parser p(limits);
  redcoro::detail::reply_builder builder;
  outcome out;
  std::string buffer;
  bool in_reply = false;
  std::size_t fed = 0;
  std::size_t next_chunk = first;
  for (;;) {
    const std::size_t n = std::min(next_chunk, input.size() - fed);
    buffer.append(input.substr(fed, n));
    fed += n;
    next_chunk = chunk;
    for (;;) {
      std::size_t consumed = 0;
      auto node = p.next(buffer, consumed, out.ec);
      if (out.ec) {
        check(!node && consumed == 0, "an error returned a node");
        std::size_t again = 1;
        boost::system::error_code ec2;
        check(!p.next(buffer, again, ec2) && ec2 == out.ec && again == 0,
              "the parser did not stay failed with the same error");
        return out;
      }
      if (!node) {
        check(consumed == 0, "nothing parsed but bytes consumed");
        break;
      }
      check(consumed > 0 && consumed <= buffer.size(), "consumed out of bounds");
      check(node->depth < limits.max_depth + 1, "node deeper than max_depth");
      check(node->value.size() <= limits.max_bulk_size, "value larger than max_bulk_size");
      if (!node->value.empty())
        check(node->value.data() >= buffer.data() &&
                  node->value.data() + node->value.size() <= buffer.data() + consumed,
              "value outside the consumed bytes");
      out.nodes.push_back({node->data_type, node->aggregate_size, node->depth,
                           node->in_attribute, std::string(node->value), p.done()});
      if (!in_reply) {
        builder.start(out.replies.emplace_back());
        in_reply = true;
      }
      builder.add(*node);
      if (p.done()) in_reply = false;
      buffer.erase(0, consumed);
      out.consumed += consumed;
    }
    if (fed == input.size()) return out;
  }
}

void exercise(const reply& r) {
  (void)r.to_json();
  (void)r.size();
  (void)r.find("k");
  try {
    (void)r.as<std::vector<std::string>>();
  } catch (const boost::system::system_error&) {
  }
  try {
    (void)r.as<std::map<std::string, std::optional<double>>>();
  } catch (const boost::system::system_error&) {
  }
  try {
    (void)r.as<std::int64_t>();
  } catch (const boost::system::system_error&) {
  }
}

void compare(const outcome& a, const outcome& b, const char* how) {
  if (a.nodes != b.nodes || a.ec != b.ec || a.consumed != b.consumed || a.replies != b.replies) {
    std::fprintf(stderr, "resp3_parser_fuzzer: %s parse differs (nodes %zu/%zu, error '%s'/'%s')\n",
                 how, a.nodes.size(), b.nodes.size(), a.ec.message().c_str(),
                 b.ec.message().c_str());
    std::abort();
  }
}

void fuzz(std::string_view input, parser_limits limits, std::uint64_t hash) {
  const outcome whole = run(input, limits, input.size(), input.size());
  for (const auto& r : whole.replies) exercise(r);

  const std::size_t cut = static_cast<std::size_t>(hash % (input.size() + 1));
  compare(whole, run(input, limits, cut, input.size()), "split");
  const std::size_t chunk = 1 + static_cast<std::size_t>((hash >> 20) % 16);
  compare(whole, run(input, limits, cut, chunk), "chunked");
  if (input.size() <= 256) compare(whole, run(input, limits, 0, 1), "byte-at-a-time");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : input) hash = (hash ^ c) * 1099511628211ULL;

  fuzz(input, parser_limits{}, hash);

  parser_limits small;
  small.max_depth = 1 + static_cast<std::size_t>((hash >> 8) % 4);
  small.max_bulk_size = 1 + static_cast<std::size_t>((hash >> 12) % 24);
  fuzz(input, small, hash);
  return 0;
}
