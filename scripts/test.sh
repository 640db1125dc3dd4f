#!/usr/bin/env bash
# Builds and runs every test: unit and integration tests (each starts its own
# redis-server processes) built with g++, again built with clang, again under
# AddressSanitizer + UndefinedBehaviorSanitizer; the thread-sensitive tests under
# ThreadSanitizer; an installed-package consumer build; a bounded libFuzzer run of the
# RESP3 parser.
#   scripts/test.sh            everything
#   scripts/test.sh --quick    only the default build and its tests
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_packages
quick=0
[ "${1:-}" = "--quick" ] && quick=1
j=$(build_jobs)
export CTEST_OUTPUT_ON_FAILURE=1

step() { echo; echo "=== $* ==="; }

step "default build"
cmake --preset default >/dev/null
cmake --build --preset default -j"$j"
step "unit and integration tests"
ctest --preset default -j"$j" --timeout 300
[ $quick -eq 1 ] && exit 0

step "installed package: find_package(redcoro) from another project"
prefix=$(mktemp -d "${TMPDIR:-/tmp}/redcoro-prefix.XXXXXX")
trap 'rm -rf "$prefix"' EXIT
cmake --install build/default --prefix "$prefix" >/dev/null
cmake -S test/consumer -B build/consumer -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build build/consumer -j"$j"
./build/consumer/redcoro_consumer

step "clang 14: everything builds, the tests pass"
cmake --preset clang >/dev/null
cmake --build --preset clang -j"$j"
ctest --preset clang -j"$j" --timeout 300

step "AddressSanitizer + UndefinedBehaviorSanitizer"
cmake --preset asan >/dev/null
cmake --build --preset asan -j"$j"
ctest --preset asan -j"$j" --timeout 600

step "ThreadSanitizer (the tests tagged [threads])"
cmake --preset tsan >/dev/null
cmake --build --preset tsan -j"$j" --target redcoro_unit_tests redcoro_integration_tests
build/tsan/test/redcoro_unit_tests "[threads]"
build/tsan/test/redcoro_integration_tests "[threads]"

step "fuzzing the RESP3 parser for ${REDCORO_FUZZ_SECONDS:-60} s"
fuzz/run.sh "${REDCORO_FUZZ_SECONDS:-60}"

echo
echo "all tests passed"
