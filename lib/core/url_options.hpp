// Lets other configurations (the pool's) put their own options in a connection URL's
// query, read with config::from_url's rules and error messages (password redacted).
#pragma once

#include <redcoro/config.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace redcoro::detail {

class url_option_reader {
 public:
  [[noreturn]] virtual void fail(const std::string& why) const = 0;
  virtual std::chrono::milliseconds duration(std::string_view key, std::string_view text) const = 0;
  virtual std::uint64_t count(std::string_view key, std::string_view text) const = 0;

 protected:
  ~url_option_reader() = default;
};

using url_extra_option =
    std::function<void(const url_option_reader& reader, std::string_view key, std::string_view value)>;

// config::from_url, also accepting `extra_keys` in the query; each is handed to `on_extra`.
config parse_url(std::string_view url, std::string_view source, const std::vector<std::string_view>& extra_keys,
                 const url_extra_option& on_extra);

}  // namespace redcoro::detail
