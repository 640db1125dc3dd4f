#!/usr/bin/env bash
# Builds the examples and runs each against a throwaway redis-server it starts and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_packages

build=build/examples
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DREDCORO_BUILD_TESTS=OFF \
  -DREDCORO_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$build" -j"$(build_jobs)"

start_redis
trap stop_redis EXIT
export REDIS_URL="redis://127.0.0.1:$REDCORO_SERVER_PORT/0"
echo "redis-server on 127.0.0.1:$REDCORO_SERVER_PORT (REDIS_URL=$REDIS_URL)"

status=0
for example in $(sed -n 's/^redcoro_example(\([a-z_0-9]*\)).*/\1/p' examples/CMakeLists.txt); do
  echo
  echo "=== $example ==="
  if ! timeout 120 "$build/examples/$example"; then
    echo "example $example FAILED" >&2
    status=1
  fi
done
exit $status
