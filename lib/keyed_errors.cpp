#include <redcoro/detail/keyed_errors.hpp>

namespace redcoro::detail {

void rethrow_for_key(const boost::system::system_error& e, std::string_view what, std::string_view key) {
  std::string msg(what);
  msg += " '";
  msg += key;
  msg += "': ";
  msg += message_of(e);
  throw boost::system::system_error(e.code(), msg);
}

}  // namespace redcoro::detail
