#include <redcoro/detail/reply_builder.hpp>
#include <redcoro/reply.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace redcoro {
namespace {

bool parse_double(std::string_view s, double& out) noexcept {
  if (s.size() > 1 && s.front() == '+' && s[1] != '-') s.remove_prefix(1);
  if (s == "inf") { out = HUGE_VAL; return true; }
  if (s == "-inf") { out = -HUGE_VAL; return true; }
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ptr != s.data() + s.size()) return false;
  if (ec == std::errc::result_out_of_range) {
    // from_chars leaves `out` alone: overflow is infinity, underflow zero.
    const auto e = s.find_first_of("eE");
    const bool tiny = e != std::string_view::npos && s.substr(e + 1).starts_with('-');
    out = tiny ? 0.0 : (s.front() == '-' ? -HUGE_VAL : HUGE_VAL);
    return true;
  }
  return ec == std::errc{};
}

}  // namespace

reply::reply(resp3::type t, std::string text) : type_(t), text_(std::move(text)) { parse_scalar(); }

void reply::assign(resp3::type t, std::string_view text) {
  type_ = t;
  text_.assign(text);
  elements_.clear();
  parse_scalar();
}

void reply::assign_aggregate(resp3::type t) noexcept {
  type_ = t;
  text_.clear();
  elements_.clear();
}

void reply::parse_scalar() noexcept {
  if (type_ == resp3::type::integer) {
    const std::size_t sign = text_.size() > 1 && text_[0] == '+' ? 1 : 0;
    std::from_chars(text_.data() + sign, text_.data() + text_.size(), scalar_.integer_);
  } else if (type_ == resp3::type::double_type) {
    parse_double(text_, scalar_.double_);
  } else if (type_ == resp3::type::boolean) {
    scalar_.bool_ = text_ == "t";
  }
}

reply reply::from_integer(std::int64_t v) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return reply(resp3::type::integer, std::string(buf, res.ptr));
}

reply reply::from_double(double v) {
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return reply(resp3::type::double_type, std::string(buf, res.ptr));
}

reply reply::from_bool(bool v) { return reply(resp3::type::boolean, v ? "t" : "f"); }

std::string_view reply::str() const noexcept {
  std::string_view t = text_;
  if (type_ == resp3::type::verbatim_string && t.size() >= 4) t.remove_prefix(4);
  return t;
}

std::int64_t reply::integer() const {
  if (type_ != resp3::type::integer) detail::throw_conversion(error::unexpected_type, "an integer", *this);
  return scalar_.integer_;
}

double reply::number() const {
  if (type_ != resp3::type::double_type) detail::throw_conversion(error::unexpected_type, "a double", *this);
  return scalar_.double_;
}

bool reply::boolean() const {
  if (type_ != resp3::type::boolean) detail::throw_conversion(error::unexpected_type, "a boolean", *this);
  return scalar_.bool_;
}

std::size_t reply::size() const noexcept {
  return is_aggregate() ? elements_.size() / resp3::element_multiplicity(type_) : 0;
}

const reply& reply::operator[](std::size_t i) const {
  if (i >= elements_.size())
    throw boost::system::system_error(error::size_mismatch,
                                      "reply element " + std::to_string(i) + " of " +
                                          std::to_string(elements_.size()));
  return elements_[i];
}

const reply* reply::find(std::string_view key) const noexcept {
  if (type_ != resp3::type::map && type_ != resp3::type::attribute) return nullptr;
  for (std::size_t i = 0; i + 1 < elements_.size(); i += 2)
    if (!elements_[i].is_aggregate() && elements_[i].str() == key) return &elements_[i + 1];
  return nullptr;
}

void reply::throw_server_error() const {
  throw boost::system::system_error(server_error_code(text_), text_);
}

boost::json::value reply::to_json() const {
  using resp3::type;
  switch (type_) {
    case type::null: return nullptr;
    case type::integer: return scalar_.integer_;
    case type::double_type: return scalar_.double_;
    case type::boolean: return scalar_.bool_;
    case type::map:
    case type::attribute: {
      boost::json::object o;
      for (std::size_t i = 0; i + 1 < elements_.size(); i += 2) {
        const reply& k = elements_[i];
        o[k.is_aggregate() ? boost::json::serialize(k.to_json()) : std::string(k.str())] =
            elements_[i + 1].to_json();
      }
      return o;
    }
    case type::array:
    case type::set:
    case type::push: {
      boost::json::array a;
      a.reserve(elements_.size());
      for (const auto& e : elements_) a.push_back(e.to_json());
      return a;
    }
    default: return boost::json::string(str());
  }
}

bool operator==(const reply& a, const reply& b) noexcept {
  return a.type_ == b.type_ && a.text_ == b.text_ && a.elements_ == b.elements_;
}

namespace detail {

void throw_conversion(error e, std::string_view expected, const reply& actual) {
  std::string msg = "cannot convert reply: expected ";
  msg += expected;
  msg += ", got ";
  msg += resp3::to_string(actual.type());
  if (!actual.is_aggregate() && !actual.is_null()) {
    std::string_view text = actual.str();
    msg += " \"";
    msg += text.substr(0, 40);
    if (text.size() > 40) msg += "...";
    msg += '"';
  } else if (actual.is_aggregate()) {
    msg += " of " + std::to_string(actual.elements().size()) + " elements";
  }
  throw boost::system::system_error(e, msg);
}

std::int64_t to_int64(const reply& r) {
  using resp3::type;
  switch (r.type()) {
    case type::integer: return r.integer();
    case type::simple_string:
    case type::bulk_string:
    case type::verbatim_string:
    case type::big_number: {
      std::string_view s = r.str();
      if (s.size() > 1 && s.front() == '+' && s[1] != '-') s.remove_prefix(1);
      std::int64_t v = 0;
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec == std::errc::result_out_of_range) throw_conversion(error::out_of_range, "a 64-bit integer", r);
      if (ec != std::errc{} || ptr != s.data() + s.size() || s.empty())
        throw_conversion(error::unexpected_type, "an integer", r);
      return v;
    }
    default: throw_conversion(error::unexpected_type, "an integer", r);
  }
}

double to_double(const reply& r) {
  using resp3::type;
  switch (r.type()) {
    case type::double_type: return r.number();
    case type::integer: return static_cast<double>(r.integer());
    case type::simple_string:
    case type::bulk_string:
    case type::verbatim_string:
    case type::big_number: {
      double v = 0;
      if (!parse_double(r.str(), v)) throw_conversion(error::unexpected_type, "a number", r);
      return v;
    }
    default: throw_conversion(error::unexpected_type, "a number", r);
  }
}

bool to_bool(const reply& r) {
  using resp3::type;
  switch (r.type()) {
    case type::boolean: return r.boolean();
    case type::integer: return r.integer() != 0;
    case type::simple_string:
    case type::bulk_string: {
      const std::string_view s = r.str();
      if (s == "1" || s == "true") return true;
      if (s == "0" || s == "false") return false;
      break;
    }
    default: break;
  }
  throw_conversion(error::unexpected_type, "a boolean", r);
}

std::string to_text(reply&& r) {
  using resp3::type;
  switch (r.type()) {
    case type::verbatim_string: return std::string(r.str());
    case type::simple_string:
    case type::bulk_string:
    case type::big_number:
    case type::integer:
    case type::double_type: return std::move(r.mutable_text());
    default: throw_conversion(error::unexpected_type, "a string", r);
  }
}

void throw_decode_error(std::string_view expected, std::string_view text, std::string_view why) {
  std::string msg = "cannot decode stored value as ";
  msg += expected;
  msg += " (";
  msg += why;
  msg += "): \"";
  msg += text.substr(0, 40);
  if (text.size() > 40) msg += "...";
  msg += '"';
  throw boost::system::system_error(error::decode_failed, msg);
}

std::string format_time(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto days_since = floor<days>(t);
  const year_month_day ymd{days_since};
  const auto tod = t - days_since;
  const auto h = duration_cast<hours>(tod);
  const auto m = duration_cast<minutes>(tod - h);
  const auto s = duration_cast<seconds>(tod - h - m);
  const auto us = duration_cast<microseconds>(tod - h - m - s);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(h.count()), static_cast<int>(m.count()),
                static_cast<int>(s.count()), static_cast<int>(us.count()));
  return buf;
}

bool parse_time(std::string_view text, std::chrono::system_clock::time_point& out) noexcept {
  using namespace std::chrono;
  auto num = [&](std::size_t pos, std::size_t len, int& v) {
    if (pos + len > text.size()) return false;
    auto res = std::from_chars(text.data() + pos, text.data() + pos + len, v);
    return res.ec == std::errc{} && res.ptr == text.data() + pos + len;
  };
  int Y, M, D, h, m, s;
  if (text.size() < 19 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != ' ') ||
      text[13] != ':' || text[16] != ':')
    return false;
  if (!num(0, 4, Y) || !num(5, 2, M) || !num(8, 2, D) || !num(11, 2, h) || !num(14, 2, m) ||
      !num(17, 2, s))
    return false;
  const year_month_day ymd{year{Y}, month{static_cast<unsigned>(M)}, day{static_cast<unsigned>(D)}};
  if (!ymd.ok() || h < 0 || h > 23 || m < 0 || m > 59 || s < 0 || s > 60) return false;
  std::size_t pos = 19;
  microseconds frac{0};
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    std::int64_t scale = 100000, us = 0;
    std::size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (scale > 0) {
        us += (text[pos] - '0') * scale;
        scale /= 10;
      }
      ++pos;
      ++digits;
    }
    if (digits == 0) return false;
    frac = microseconds{us};
  }
  const std::string_view zone = text.substr(pos);
  if (!zone.empty() && zone != "Z" && zone != "+00:00" && zone != "+0000") return false;
  out = sys_days{ymd} + hours{h} + minutes{m} + seconds{s} + frac;
  return true;
}

void reply_builder::add(const resp3::node& n) {
  if (n.in_attribute) return;
  if (open_.size() > n.depth) open_.resize(n.depth);
  reply* target = open_.empty() ? root_ : &open_.back()->mutable_elements().emplace_back();
  if (resp3::is_aggregate(n.data_type)) {
    target->assign_aggregate(n.data_type);
    const std::size_t children = n.aggregate_size * resp3::element_multiplicity(n.data_type);
    if (children != 0) {
      target->mutable_elements().reserve(std::min<std::size_t>(children, 4096));
      open_.push_back(target);
    }
  } else {
    target->assign(n.data_type, n.value);
  }
}

}  // namespace detail
}  // namespace redcoro
