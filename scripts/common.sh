# Shared by the scripts in this directory: package checks and a throwaway redis-server.

# Debian 12 packages the build, the tests and the examples need.
REDCORO_PACKAGES=(cmake make g++ clang libclang-rt-14-dev ccache pkgconf
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-system1.81-dev
  libspdlog-dev catch2 libssl-dev openssl redis-server redis-tools)

# Installs whatever of the packages is missing (as root), or says what to install.
ensure_packages() {
  local missing=()
  for p in "${REDCORO_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ]; then
    echo "Installing missing Debian packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "Missing Debian packages: ${missing[*]}" >&2
    echo "Install them with: sudo apt-get install ${missing[*]}  (or run this script as root)" >&2
    exit 1
  fi
}

build_jobs() { nproc 2>/dev/null || echo 2; }

# Starts redis-server on a free loopback port (never 6379) in a temporary directory and
# sets REDCORO_SERVER_PORT, REDCORO_SERVER_DIR and REDCORO_SERVER_PID; stop_redis stops it
# and removes the directory. The server is a child of this shell, not a daemon, so it is
# stopped by its pid even when it never got as far as writing a pidfile.
start_redis() {
  REDCORO_SERVER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/redcoro-redis.XXXXXX")
  for _ in $(seq 1 20); do
    REDCORO_SERVER_PORT=$((20000 + RANDOM % 40000))
    redis-server --port "$REDCORO_SERVER_PORT" --bind 127.0.0.1 --dir "$REDCORO_SERVER_DIR" \
      --save "" --appendonly no --daemonize no \
      --logfile "$REDCORO_SERVER_DIR/redis.log" >/dev/null 2>&1 &
    REDCORO_SERVER_PID=$!
    for _ in $(seq 1 50); do
      if redis-cli -p "$REDCORO_SERVER_PORT" ping 2>/dev/null | grep -q PONG; then return 0; fi
      kill -0 "$REDCORO_SERVER_PID" 2>/dev/null || break  # it exited: the port was taken
      sleep 0.1
    done
    kill_redis
  done
  echo "could not start redis-server; its log:" >&2
  cat "$REDCORO_SERVER_DIR/redis.log" >&2
  return 1
}

# Stops the server started by start_redis and waits for it: SIGTERM, then SIGKILL after 5 s.
kill_redis() {
  [ -n "${REDCORO_SERVER_PID:-}" ] || return 0
  kill "$REDCORO_SERVER_PID" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$REDCORO_SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$REDCORO_SERVER_PID" 2>/dev/null || true
  wait "$REDCORO_SERVER_PID" 2>/dev/null || true
  REDCORO_SERVER_PID=
}

stop_redis() {
  kill_redis
  [ -n "${REDCORO_SERVER_DIR:-}" ] && rm -rf "$REDCORO_SERVER_DIR"
  REDCORO_SERVER_DIR=
}
