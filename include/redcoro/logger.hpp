// The spdlog logger redcoro writes to by default: the one registered as "redcoro".
// Silence it with `spdlog::get("redcoro")->set_level(spdlog::level::off)`, register your own
// logger under that name before using redcoro, or hand components a logger of your own.
#pragma once

#include <memory>

namespace spdlog {
class logger;
}

namespace redcoro {

// The logger registered as "redcoro", registering one that writes to stderr if none is.
std::shared_ptr<spdlog::logger> default_logger();

}  // namespace redcoro
