#!/usr/bin/env bash
# Builds the fuzz preset (clang, libFuzzer, ASan, UBSan) and runs the RESP3 parser fuzzer
# for the given number of seconds (default 60) on a copy of the seed corpus.
# Exits non-zero when the fuzzer finds a crash; the crashing input is kept in build/fuzz/.
set -euo pipefail

seconds="${1:-60}"
jobs="${JOBS:-2}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

cd "$root"
cmake --preset fuzz >/dev/null
cmake --build build/fuzz -j"$jobs" --target resp3_parser_fuzzer

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" build/fuzz/artifacts
cp fuzz/corpus/resp3_parser/* "$work/corpus/"

build/fuzz/fuzz/resp3_parser_fuzzer \
  -max_total_time="$seconds" \
  -dict=fuzz/resp3.dict \
  -max_len=4096 \
  -timeout=10 \
  -print_final_stats=1 \
  -artifact_prefix="$root/build/fuzz/artifacts/" \
  "$work/corpus"
