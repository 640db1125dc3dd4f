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
# sets REDCORO_SERVER_PORT and REDCORO_SERVER_DIR; stop_redis removes it again.
start_redis() {
  REDCORO_SERVER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/redcoro-redis.XXXXXX")
  for _ in $(seq 1 20); do
    REDCORO_SERVER_PORT=$((20000 + RANDOM % 40000))
    redis-server --port "$REDCORO_SERVER_PORT" --bind 127.0.0.1 --dir "$REDCORO_SERVER_DIR" \
      --save "" --appendonly no --daemonize yes --pidfile "$REDCORO_SERVER_DIR/redis.pid" \
      --logfile "$REDCORO_SERVER_DIR/redis.log" >/dev/null
    for _ in $(seq 1 50); do
      if redis-cli -p "$REDCORO_SERVER_PORT" ping 2>/dev/null | grep -q PONG; then return 0; fi
      sleep 0.1
    done
    [ -f "$REDCORO_SERVER_DIR/redis.pid" ] && kill "$(cat "$REDCORO_SERVER_DIR/redis.pid")" 2>/dev/null
  done
  echo "could not start redis-server; its log:" >&2
  cat "$REDCORO_SERVER_DIR/redis.log" >&2
  return 1
}

stop_redis() {
  if [ -n "${REDCORO_SERVER_DIR:-}" ] && [ -f "$REDCORO_SERVER_DIR/redis.pid" ]; then
    kill "$(cat "$REDCORO_SERVER_DIR/redis.pid")" 2>/dev/null || true
    sleep 0.2
  fi
  [ -n "${REDCORO_SERVER_DIR:-}" ] && rm -rf "$REDCORO_SERVER_DIR"
  REDCORO_SERVER_DIR=
}
