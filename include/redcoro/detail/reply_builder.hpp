// Assembles parser nodes into a reply tree.
#pragma once

#include <redcoro/reply.hpp>
#include <redcoro/resp3_parser.hpp>

#include <vector>

namespace redcoro::detail {

class reply_builder {
 public:
  // Directs the nodes of the next top-level reply into `target`, which they overwrite.
  void start(reply& target) noexcept {
    root_ = &target;
    open_.clear();
  }

  // Adds one node; attribute nodes are dropped.
  void add(const resp3::node& n);

 private:
  reply* root_ = nullptr;
  std::vector<reply*> open_;  // aggregates still receiving elements, outermost first
};

}  // namespace redcoro::detail
