#include <redcoro/detail/keyed_errors.hpp>

#include <string>

namespace redcoro::detail {

void rethrow_with_context(const boost::system::system_error& e, std::string_view context) {
  std::string msg(context);
  msg += ": ";
  msg += message_of(e);
  throw boost::system::system_error(e.code(), msg);
}

void rethrow_for_key(const boost::system::system_error& e, std::string_view what, std::string_view key) {
  std::string context(what);
  context += " '";
  context += key;
  context += '\'';
  rethrow_with_context(e, context);
}

}  // namespace redcoro::detail
