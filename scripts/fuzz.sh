#!/usr/bin/env bash
# Fuzzes the license package parser (fuzz/, issue 9): installs cargo-fuzz if it is missing,
# builds the fuzz targets, and runs each for its share of SECONDS (default 60 in all, for CI).
# Prints each target's executions, speed, corpus and crashes, and exits non-zero on a crash (the
# input is kept in fuzz/artifacts/<target>/; replay it with
# `RUSTC_BOOTSTRAP=1 cargo fuzz run <target> fuzz/artifacts/<target>/crash-…`).
#
# usage: scripts/fuzz.sh [SECONDS] [TARGET…]
#   FUZZ_SANITIZER=address|none (default address)
#
# There is no nightly toolchain here: cargo-fuzz's unstable flags (-Zsanitizer) are allowed on the
# stable one by RUSTC_BOOTSTRAP=1, for these builds only. The corpus grows in
# fuzz/corpus/<target>/; only its seed-* files are tracked.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

CARGO_FUZZ_VERSION=0.13.2
total="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(package payload)
sanitizer="${FUZZ_SANITIZER:-address}"
# Each sanitizer builds into its own folder, so that switching does not rebuild everything.
# Outside the checkout, so that a fresh clone on this machine (CI) reuses the instrumented build
# of the format crate and its dependencies (a few minutes cold).
target_dir="${TESSERA_FUZZ_TARGET_DIR:-$HOME/.cache/tessera-fuzz-target}"
[ "$sanitizer" = address ] || target_dir="$target_dir/sanitizer-$sanitizer"
build_opts=(--sanitizer "$sanitizer" --target-dir "$target_dir")
if ! [[ "$total" =~ ^[0-9]+$ ]] || [ "$total" -lt ${#targets[@]} ]; then
  echo "fuzz.sh: SECONDS must be a whole number, at least one a target (got '$total')" >&2
  exit 2
fi
per=$((total / ${#targets[@]}))
step() { printf '\n==> %s\n' "$*" >&2; }

if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  step "install cargo-fuzz $CARGO_FUZZ_VERSION"
  # A tool: optimised at level 1, whose build is what costs (as scripts/bootstrap.sh builds its own).
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_INCREMENTAL=0 \
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

export RUSTC_BOOTSTRAP=1
step "build the fuzz targets (sanitizer: $sanitizer)"
started=$SECONDS
for target in "${targets[@]}"; do
  cargo fuzz build "${build_opts[@]}" "$target"
done
echo "built in $((SECONDS - started)) s" >&2

fuzz_dir="$PWD/fuzz"
logs="$fuzz_dir/target/fuzz-logs"
mkdir -p "$logs"
failed=0
summary=()
for target in "${targets[@]}"; do
  step "fuzz $target for $per s"
  corpus="$fuzz_dir/corpus/$target"
  artifacts="$fuzz_dir/artifacts/$target"
  mkdir -p "$corpus" "$artifacts"
  before=$(find "$artifacts" -type f | wc -l)
  log="$logs/$target.log"
  status=0
  # -max_len: room for a few certificates and for the target's byte limit (4 KiB) to be passed.
  # The binary just built, run as `cargo fuzz run` would, but without building again: a source
  # edited since (by someone else in the same checkout) must not stop the clock for a rebuild.
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0" \
    "$target_dir/x86_64-unknown-linux-gnu/release/$target" "$corpus" \
    -artifact_prefix="$artifacts/" -max_total_time="$per" -max_len=6144 -timeout=10 \
    -print_final_stats=1 -dict="$fuzz_dir/dict/$target.dict" >"$log" 2>&1 || status=$?
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
  execs="$(stat number_of_executed_units)"
  speed="$(stat average_exec_per_sec)"
  rss="$(stat peak_rss_mb)"
  crashes=$(($(find "$artifacts" -type f | wc -l) - before))
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    crashes=1 # stopped for another reason (a build error, a sanitizer report without an artifact)
  fi
  files=$(find "$corpus" -type f | wc -l)
  kib=$(($(du -sk "$corpus" | cut -f1)))
  line="$target: ${execs:-0} executions in ${per} s (${speed:-0}/s), corpus $files files ($kib KiB), peak RSS ${rss:-?} MB, crashes: $crashes"
  summary+=("$line")
  echo "$line" >&2
  if [ "$crashes" -ne 0 ]; then
    failed=$((failed + 1))
    echo "--- last lines of $log:" >&2
    tail -n 60 "$log" >&2
    echo "--- inputs kept in $artifacts:" >&2
    find "$artifacts" -type f | head -5 >&2
  fi
done

step "fuzz summary"
printf '%s\n' "${summary[@]}"
echo "fuzz: $((${#targets[@]} - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
