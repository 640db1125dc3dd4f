// An spdlog logger whose messages a test can count.
#pragma once

#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace redcoro::test {

class log_capture {
 public:
  log_capture() : sink_(std::make_shared<sink>()), logger_(std::make_shared<spdlog::logger>("capture", sink_)) {
    logger_->set_level(spdlog::level::trace);
  }

  const std::shared_ptr<spdlog::logger>& logger() const noexcept { return logger_; }

  // Messages at `level` containing `part`.
  std::size_t count(spdlog::level::level_enum level, std::string_view part = {}) const {
    const auto all = sink_->messages();
    return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [&](const auto& m) {
      return m.first == level && m.second.find(part) != std::string::npos;
    }));
  }

  std::vector<std::pair<spdlog::level::level_enum, std::string>> messages() const { return sink_->messages(); }

 private:
  class sink final : public spdlog::sinks::base_sink<std::mutex> {
   public:
    std::vector<std::pair<spdlog::level::level_enum, std::string>> messages() {
      std::lock_guard lk(mutex_);
      return messages_;
    }

   protected:
    void sink_it_(const spdlog::details::log_msg& m) override {
      messages_.emplace_back(m.level, std::string(m.payload.data(), m.payload.size()));
    }
    void flush_() override {}

   private:
    std::vector<std::pair<spdlog::level::level_enum, std::string>> messages_;
  };

  std::shared_ptr<sink> sink_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace redcoro::test
