#include <redcoro/logger.hpp>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace redcoro {

std::shared_ptr<spdlog::logger> default_logger() {
  if (auto existing = spdlog::get("redcoro")) return existing;
  try {
    return spdlog::stderr_color_mt("redcoro");
  } catch (const spdlog::spdlog_ex&) {
    return spdlog::get("redcoro");  // another thread registered it first
  }
}

}  // namespace redcoro
