#!/usr/bin/env bash
# Builds the benchmarks, starts its own redis-server, and prints redcoro's figures next to
# redis-benchmark (and hiredis, when libhiredis-dev is installed) measured in the same run.
#   benchmarks/run.sh            a table
#   benchmarks/run.sh --json     one JSON object per line
# With two or more CPUs the server runs on CPU 0 and the clients on CPU 1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
ensure_packages strace
json=0
[ "${1:-}" = "--json" ] && json=1

build=build/bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DREDCORO_BUILD_BENCHMARKS=ON -DREDCORO_BUILD_TESTS=OFF \
  -DREDCORO_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j"$(build_jobs)" >/dev/null
bin=$build/benchmarks

server_cpu=""; client_cpu=""
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  server_cpu="taskset -c 0"; client_cpu="taskset -c 1"
fi
start_redis
trap stop_redis EXIT
port=$REDCORO_SERVER_PORT
pid=$REDCORO_SERVER_PID
[ -n "$server_cpu" ] && taskset -pc 0 "$pid" >/dev/null

emit() {  # workload client concurrency ops_per_s cpu_us_per_op p50 p99 p999 [server_cpu_us_per_op [allocs_per_op]]
  local srv=${9:--} allocs=${10:--} extra=""
  if [ $json -eq 1 ]; then
    [ "$srv" != "-" ] && extra="$extra,\"server_cpu_us_per_op\":$srv"
    [ "$allocs" != "-" ] && extra="$extra,\"allocs_per_op\":$allocs"
    printf '{"workload":"%s","client":"%s","concurrency":%s,"ops_per_s":%s,"cpu_us_per_op":%s,"p50_us":%s,"p99_us":%s,"p999_us":%s%s}\n' "${@:1:8}" "$extra"
  else
    [ "$allocs" != "-" ] && extra="$extra$(printf '  allocs %6s/op' "$allocs")"
    [ "$srv" != "-" ] && extra="$extra$(printf '  server %7s us/op' "$srv")"
    printf '%-9s %-32s c=%-4s %12s ops/s  cpu %8s us/op  p50 %8s us  p99 %8s us  p99.9 %8s us%s\n' "${@:1:8}" "$extra"
  fi
}

# redis-benchmark -c 1 -P N for SET and GET; one figure per pipeline depth (both commands).
# Its client CPU is taken from /proc for the whole run.
redis_benchmark() {
  local depth=$1 n=$2 out cpu0 cpu1 t0 t1
  out=$(mktemp)
  t0=$(date +%s.%N)
  $client_cpu redis-benchmark -p "$port" -c 1 -P "$depth" -n "$n" -t set,get -d 32 -r 10000 --csv >"$out" 2>/dev/null &
  local rb=$!
  wait $rb
  t1=$(date +%s.%N)
  awk -F'"' -v d="$depth" -v n="$n" -v wall="$(echo "$t1 - $t0" | bc)" '
    /"SET"|"GET"/ { rps[$2]=$4; p50+=$10; p99+=$14; cnt++ }
    END {
      ops = 2 / (1/rps["SET"] + 1/rps["GET"]);
      printf "%s %s %.0f %s %.1f %.1f %s\n", "w1", d, ops, "-", p50/cnt*1000, p99/cnt*1000, "-"
    }' "$out"
  rm -f "$out"
}

declare -A reference
[ $json -eq 0 ] && echo "redis-server $(redis-server --version | awk '{print $3}' | cut -d= -f2) on 127.0.0.1:$port; $(nproc) CPUs"
for depth in 1 16 256; do
  n=200000; [ "$depth" = 1 ] && n=100000
  read -r w d ops cpu p50 p99 p999 < <(redis_benchmark "$depth" "$n")
  reference[$depth]=$ops
  emit w1 "redis-benchmark -P $depth" 1 "$ops" "$cpu" "$p50" "$p99" "$p999"
done

run_client() {  # program workload concurrency requests label; prints emit's figures ("-" where not measured)
  local line
  line=$($client_cpu "$bin/$1" --port "$port" --workload "$2" --concurrency "$3" --requests "$4" --json)
  echo "$line" | sed 's/[{}"]//g; s/,/ /g' | tr ' ' '\n' | awk -F: -v label="$5" '
    { v[$1]=$2 } END { srv = ("server_cpu_us_per_op" in v) ? v["server_cpu_us_per_op"] : "-";
      allocs = ("allocs_per_op" in v) ? v["allocs_per_op"] : "-";
      print v["workload"], label, v["concurrency"], v["ops_per_s"], v["cpu_us_per_op"], v["p50_us"], v["p99_us"], v["p999_us"], srv, allocs }'
}

ratio() { echo "scale=2; $1 / $2" | bc; }

for c in 1 16 256; do
  n=200000; [ "$c" = 1 ] && n=100000
  read -r w label conc ops cpu p50 p99 p999 srv allocs < <(run_client redis_bench w1 "$c" "$n" redcoro)
  emit "$w" "redcoro (x$(ratio "$ops" "${reference[$c]}") of -P $c)" "$conc" "$ops" "$cpu" "$p50" "$p99" "$p999" "$srv" "$allocs"
  if [ -x "$bin/hiredis_bench" ]; then
    read -r w label conc ops cpu p50 p99 p999 srv allocs < <(run_client hiredis_bench w1 "$c" "$n" hiredis)
    emit "$w" "hiredis (x$(ratio "$ops" "${reference[$c]}"))" "$conc" "$ops" "$cpu" "$p50" "$p99" "$p999" "$srv" "$allocs"
  fi
done

read -r w label conc ops cpu p50 p99 p999 srv allocs < <(run_client redis_bench w4 1 100000 redcoro)
emit w4 "redcoro PING" "$conc" "$ops" "$cpu" "$p50" "$p99" "$p999" "$srv" "$allocs"
if [ -x "$bin/hiredis_bench" ]; then
  read -r w label conc ops cpu p50 p99 p999 srv allocs < <(run_client hiredis_bench w4 1 100000 hiredis)
  emit w4 "hiredis PING" "$conc" "$ops" "$cpu" "$p50" "$p99" "$p999" "$srv" "$allocs"
fi

# The pool: W1 at concurrency 256 over 1, 2 and 4 shared connections, and lease cost.
if [ -x "$bin/pool_bench" ]; then
  for k in 1 2 4; do
    read -r w label conc ops cpu p50 p99 p999 srv allocs < <(run_client pool_bench "w1-pool$k" 256 200000 "pool")
    emit "$w" "pool, $k conn (x$(ratio "$ops" "${reference[256]}"))" "$conc" "$ops" "$cpu" "$p50" "$p99" "$p999" "$srv" "$allocs"
  done
  read -r w label conc ops cpu p50 p99 p999 srv allocs < <(run_client pool_bench lease 1 20000 "pool")
  emit "$w" "pool acquire+release" "$conc" "$ops" "$cpu" "$p50" "$p99" "$p999" "$srv" "$allocs"
fi

# System calls per request, counted with strace: the difference between a run of 2n and
# one of n requests, so connecting and warming up cancel out. strace slows the client,
# which lets more requests gather per batch at high concurrency.
syscalls_per_request() {  # program workload concurrency n
  local counts=()
  for n in "$4" "$(($4 * 2))"; do
    strace -f -c -U calls,name -o "$REDCORO_SERVER_DIR/strace.txt" \
      "$bin/$1" --port "$port" --workload "$2" --concurrency "$3" --requests "$n" --json >/dev/null
    counts+=("$(awk '$2 == "total" { print $1 }' "$REDCORO_SERVER_DIR/strace.txt")")
  done
  # Each program runs the workload three times (warm-up, throughput, latency).
  echo "scale=2; (${counts[1]} - ${counts[0]}) / (3 * $4)" | bc
}
if command -v strace >/dev/null; then
  [ $json -eq 0 ] && echo && echo "system calls per request (strace -c)"
  for spec in "w4 1 20000" "w1 1 20000" "w1 16 100000" "w1 256 200000"; do
    read -r wl c n <<<"$spec"
    for prog in redis_bench hiredis_bench; do
      [ -x "$bin/$prog" ] || continue
      calls=$(syscalls_per_request "$prog" "$wl" "$c" "$n")
      client=redcoro; [ "$prog" = hiredis_bench ] && client=hiredis
      if [ $json -eq 1 ]; then
        printf '{"workload":"%s","client":"%s","concurrency":%s,"syscalls_per_op":%s}\n' "$wl" "$client" "$c" "$calls"
      else
        printf '%-6s %-26s c=%-4s %12s syscalls/op\n' "$wl" "$client" "$c" "$calls"
      fi
    done
  done
fi

# W3 (ring add) references: hiredis with manual pipelining, the add as MULTI/RPUSH/LTRIM/EXEC
# and as a Lua script, with the server's CPU per add; redcoro's W3 is compared with the best.
declare -A w3_best
if [ -x "$bin/hiredis_bench" ] && [ -x "$bin/structures_bench" ]; then
  for c in 1 64; do
    n=300000; [ "$c" = 1 ] && n=50000
    for form in w3-multi w3-lua; do
      form_label=MULTI; [ "$form" = w3-lua ] && form_label=Lua
      read -r w label conc ops cpu p50 p99 p999 srv allocs < <(run_client hiredis_bench "$form" "$c" "$n" hiredis)
      emit "$w" "hiredis ($form_label)" "$conc" "$ops" "$cpu" "$p50" "$p99" "$p999" "$srv" "$allocs"
      if [ -z "${w3_best[$c]:-}" ] || [ "$(echo "$ops > ${w3_best[$c]}" | bc)" = 1 ]; then w3_best[$c]=$ops; fi
    done
  done
fi

# Data structures, when their benchmark programs exist.
for prog in structures_bench queue_bench; do
  [ -x "$bin/$prog" ] || continue
  for spec in $("$bin/$prog" --list); do
    IFS=: read -r wl c n <<<"$spec"
    read -r w label conc ops cpu p50 p99 p999 srv allocs < <(run_client "$prog" "$wl" "$c" "$n" "$prog")
    label="redcoro $wl"
    if [[ "$wl" == w3* ]] && [ -n "${w3_best[$c]:-}" ]; then label="$label (x$(ratio "$ops" "${w3_best[$c]}") of best)"; fi
    emit "$w" "$label" "$conc" "$ops" "$cpu" "$p50" "$p99" "$p999" "$srv" "$allocs"
  done
done

# The in-memory circular_buffer (no server involved): items/s from 1 and 4 producer threads
# to one consumer taking batches of 500, next to asio's concurrent_channel and a mutex +
# condition_variable + std::deque measured in the same run. Its threads use every CPU.
if [ -x "$bin/buffer_bench" ]; then
  declare -A best_baseline=()
  while IFS=: read -r wl c n; do
    read -r w label conc ops cpu p50 p99 p999 srv allocs < <(client_cpu="" run_client buffer_bench "$wl" "$c" "$n" "$wl")
    if [ "$wl" = buffer ]; then
      label="circular_buffer (x$(ratio "$ops" "${best_baseline[$c]}") of best baseline)"
    else
      [ "${ops%.*}" -gt "${best_baseline[$c]:-0}" ] && best_baseline[$c]=${ops%.*}
      label=$([ "$wl" = channel ] && echo "asio concurrent_channel" || echo "mutex+condvar+deque")
    fi
    emit "$w" "$label" "$conc" "$ops" "$cpu" "$p50" "$p99" "$p999" "$srv" "$allocs"
  done < <("$bin/buffer_bench" --list)
fi
