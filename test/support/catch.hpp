// Catch2 for tests whose assertions hold co_await expressions.
//
// Catch2 v2's CHECK/REQUIRE mention their expression twice more where it is meant never to
// run: inside __builtin_constant_p and after `false &&` in the loop condition. GCC 12 runs a
// co_await of an Asio awaitable found in either place, so CHECK(co_await q.pop(250ms))
// would pop three times. Here INTERNAL_CATCH_TEST is the same macro without those two.
#pragma once
// As catch.hpp itself does: no -Wparentheses for `Decomposer() <= a == b` in every CHECK.
#pragma GCC system_header

#include <catch2/catch.hpp>

#undef INTERNAL_CATCH_TEST
#define INTERNAL_CATCH_TEST(macroName, resultDisposition, ...)                                                     \
  do {                                                                                                             \
    Catch::AssertionHandler catchAssertionHandler(macroName##_catch_sr, CATCH_INTERNAL_LINEINFO,                   \
                                                  CATCH_INTERNAL_STRINGIFY(__VA_ARGS__), resultDisposition);       \
    INTERNAL_CATCH_TRY {                                                                                           \
      CATCH_INTERNAL_START_WARNINGS_SUPPRESSION                                                                    \
      CATCH_INTERNAL_SUPPRESS_PARENTHESES_WARNINGS                                                                 \
      catchAssertionHandler.handleExpr(Catch::Decomposer() <= __VA_ARGS__);                                        \
      CATCH_INTERNAL_STOP_WARNINGS_SUPPRESSION                                                                     \
    }                                                                                                              \
    INTERNAL_CATCH_CATCH(catchAssertionHandler)                                                                    \
    INTERNAL_CATCH_REACT(catchAssertionHandler)                                                                    \
  } while (false)
