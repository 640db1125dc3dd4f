#include <redcoro/error.hpp>
#include <redcoro/resp3_parser.hpp>

#include <charconv>
#include <cstring>
#include <limits>

namespace redcoro::resp3 {
namespace {

// Aggregates may declare at most this many elements; a larger count is malformed rather
// than merely big, and bounding it keeps `2 * count` for maps from overflowing.
constexpr std::int64_t max_aggregate_size = std::int64_t{1} << 32;

bool known_type(char c) noexcept {
  switch (c) {
    case '+': case '-': case ':': case '$': case '!': case '=': case ',': case '#':
    case '(': case '_': case '*': case '%': case '~': case '>': case '|':
      return true;
    default:
      return false;
  }
}

bool parse_int64(std::string_view s, std::int64_t& out) noexcept {
  if (s.size() > 1 && s.front() == '+' && s[1] != '-') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

bool valid_double(std::string_view s) noexcept {
  if (s == "inf" || s == "-inf" || s == "+inf" || s == "nan" || s == "-nan") return true;
  if (s.size() > 1 && s.front() == '+' && s[1] != '-') s.remove_prefix(1);
  if (s.empty()) return false;
  double d;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  return (ec == std::errc{} || ec == std::errc::result_out_of_range) && ptr == s.data() + s.size();
}

bool valid_big_number(std::string_view s) noexcept {
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) s.remove_prefix(1);
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

std::string_view to_string(type t) noexcept {
  switch (t) {
    case type::simple_string: return "simple string";
    case type::simple_error: return "simple error";
    case type::integer: return "integer";
    case type::bulk_string: return "bulk string";
    case type::blob_error: return "blob error";
    case type::verbatim_string: return "verbatim string";
    case type::double_type: return "double";
    case type::boolean: return "boolean";
    case type::big_number: return "big number";
    case type::null: return "null";
    case type::array: return "array";
    case type::map: return "map";
    case type::set: return "set";
    case type::push: return "push";
    case type::attribute: return "attribute";
  }
  return "unknown";
}

parser::parser(parser_limits limits) : limits_(limits) { frames_.reserve(limits_.max_depth); }

void parser::reset() noexcept {
  frames_.clear();
  needed_ = 0;
  done_ = false;
  failure_ = {};
}

void parser::complete_element() noexcept {
  for (;;) {
    if (frames_.empty()) {
      done_ = true;
      return;
    }
    if (--frames_.back().remaining != 0) return;
    const bool attribute_closed = frames_.back().attribute_root;
    frames_.pop_back();
    // An attribute annotates the element after it and is not an element itself.
    if (attribute_closed) return;
  }
}

std::optional<node> parser::next(std::string_view input, std::size_t& consumed,
                                 boost::system::error_code& ec) {
  consumed = 0;
  if (failure_) {
    ec = failure_;
    return std::nullopt;
  }
  if (done_) {
    done_ = false;
    needed_ = 0;
  }
  auto fail = [&](error e) -> std::optional<node> {
    failure_ = e;
    ec = e;
    return std::nullopt;
  };

  if (input.empty()) return std::nullopt;
  const char tag = input.front();
  if (!known_type(tag)) return fail(error::invalid_type_byte);

  const char* cr = static_cast<const char*>(std::memchr(input.data(), '\r', input.size()));
  if (!cr) {
    if (input.size() - 1 > limits_.max_bulk_size) return fail(error::invalid_line);
    return std::nullopt;
  }
  const std::size_t line_end = static_cast<std::size_t>(cr - input.data());
  if (line_end - 1 > limits_.max_bulk_size) return fail(error::invalid_line);
  if (line_end + 1 >= input.size()) return std::nullopt;  // the '\n' has not arrived yet
  if (input[line_end + 1] != '\n') return fail(error::invalid_line);
  const std::string_view line = input.substr(1, line_end - 1);
  std::size_t header = line_end + 2;

  const bool parent_in_attribute = !frames_.empty() && frames_.back().in_attribute;
  node n;
  n.data_type = static_cast<type>(tag);
  n.depth = frames_.size();
  n.in_attribute = parent_in_attribute;

  switch (n.data_type) {
    case type::bulk_string:
    case type::blob_error:
    case type::verbatim_string: {
      std::int64_t len = 0;
      if (!parse_int64(line, len)) return fail(error::invalid_length);
      if (len == -1 && n.data_type == type::bulk_string) {  // RESP2 null bulk
        n.data_type = type::null;
        break;
      }
      if (len < 0) return fail(error::invalid_length);
      if (static_cast<std::uint64_t>(len) > limits_.max_bulk_size) return fail(error::bulk_too_large);
      const std::size_t total = header + static_cast<std::size_t>(len) + 2;
      if (input.size() < total) {
        needed_ = total;
        return std::nullopt;
      }
      if (input[total - 2] != '\r' || input[total - 1] != '\n') return fail(error::invalid_line);
      n.value = input.substr(header, static_cast<std::size_t>(len));
      if (n.data_type == type::verbatim_string && (len < 4 || n.value[3] != ':'))
        return fail(error::invalid_length);
      header = total;
      break;
    }
    case type::array:
    case type::map:
    case type::set:
    case type::push:
    case type::attribute: {
      std::int64_t count = 0;
      if (!parse_int64(line, count)) return fail(error::invalid_length);
      if (count == -1 && n.data_type == type::array) {  // RESP2 null array
        n.data_type = type::null;
        break;
      }
      if (count < 0 || count > max_aggregate_size) return fail(error::invalid_length);
      if (n.data_type == type::push && !frames_.empty()) return fail(error::invalid_type_byte);
      n.aggregate_size = static_cast<std::size_t>(count);
      const bool is_attribute = n.data_type == type::attribute;
      n.in_attribute = n.in_attribute || is_attribute;
      if (count == 0) break;
      if (frames_.size() >= limits_.max_depth) return fail(error::nesting_too_deep);
      frames_.push_back(frame{n.aggregate_size * element_multiplicity(n.data_type),
                              n.in_attribute, is_attribute});
      consumed = header;
      needed_ = 0;
      return n;
    }
    case type::integer: {
      std::int64_t v = 0;
      if (!parse_int64(line, v)) return fail(error::invalid_number);
      n.value = line;
      break;
    }
    case type::double_type:
      if (!valid_double(line)) return fail(error::invalid_number);
      n.value = line;
      break;
    case type::big_number:
      if (!valid_big_number(line)) return fail(error::invalid_number);
      n.value = line;
      break;
    case type::boolean:
      if (line != "t" && line != "f") return fail(error::invalid_boolean);
      n.value = line;
      break;
    case type::null:
      if (!line.empty()) return fail(error::invalid_line);
      break;
    case type::simple_string:
    case type::simple_error:
      n.value = line;
      break;
  }

  consumed = header;
  needed_ = 0;
  if (n.data_type != type::attribute) complete_element();
  return n;
}

}  // namespace redcoro::resp3
