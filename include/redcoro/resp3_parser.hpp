// The incremental RESP3 parser (RESP2 replies are accepted too).
//
// It is fed the bytes received so far and hands out one node at a time: a scalar, or the
// header of an aggregate whose elements follow as further nodes. A node is produced only
// once all of its bytes are present, so input may be split anywhere; the caller keeps the
// unconsumed bytes and calls again when more arrive. The parser does no I/O.
#pragma once

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace redcoro::resp3 {

// RESP3 data types; the value is the type byte on the wire.
enum class type : char {
  simple_string = '+',
  simple_error = '-',
  integer = ':',
  bulk_string = '$',
  blob_error = '!',
  verbatim_string = '=',
  double_type = ',',
  boolean = '#',
  big_number = '(',
  null = '_',
  array = '*',
  map = '%',
  set = '~',
  push = '>',
  attribute = '|',
};

// Human-readable name of a type ("bulk string", "map", ...), for error messages.
std::string_view to_string(type t) noexcept;

constexpr bool is_aggregate(type t) noexcept {
  return t == type::array || t == type::map || t == type::set || t == type::push ||
         t == type::attribute;
}

// Number of child nodes per declared element: maps and attributes hold pairs.
constexpr std::size_t element_multiplicity(type t) noexcept {
  return t == type::map || t == type::attribute ? 2 : 1;
}

struct node {
  type data_type = type::null;
  std::size_t aggregate_size = 0;  // declared element count (pairs for maps); 0 for scalars
  std::size_t depth = 0;           // 0 for a top-level reply
  bool in_attribute = false;       // part of an attribute (metadata preceding a reply)
  std::string_view value;          // payload of scalars; points into the caller's buffer
};

struct parser_limits {
  std::size_t max_bulk_size = 512 * 1024 * 1024;  // also bounds a simple line's length
  std::size_t max_depth = 32;                      // deepest aggregate nesting accepted
};

class parser {
 public:
  explicit parser(parser_limits limits = {});

  // Parses the node at the start of `input`. On success returns it and sets `consumed`
  // to its length in bytes; returns nullopt with `consumed` = 0 when `input` does not yet
  // hold the whole node, and nullopt with `ec` set on malformed input (the parser then
  // stays failed until reset(), every call giving the same error).
  std::optional<node> next(std::string_view input, std::size_t& consumed,
                           boost::system::error_code& ec);

  // True when the last node returned completed a top-level reply.
  bool done() const noexcept { return done_; }

  // Bytes the current node needs at least, when known (a bulk header was seen): lets the
  // caller grow its buffer once instead of retrying on every read.
  std::size_t bytes_needed() const noexcept { return needed_; }

  // Prepares for the next top-level reply. Called automatically after done().
  void reset() noexcept;

  const parser_limits& limits() const noexcept { return limits_; }

 private:
  struct frame {
    std::size_t remaining;  // child nodes still to come
    bool in_attribute;      // this aggregate is, or is inside, an attribute
    bool attribute_root;    // this aggregate is an attribute
  };

  void complete_element() noexcept;

  parser_limits limits_;
  std::vector<frame> frames_;
  std::size_t needed_ = 0;
  bool done_ = false;
  boost::system::error_code failure_;  // set once the input was malformed
};

}  // namespace redcoro::resp3
