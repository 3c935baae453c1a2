#!/usr/bin/env bash
# scripts/test.sh - the whole test suite, from a fresh Debian 12 machine:
#   1. install what is missing (scripts/deps.sh test)
#   2. build with -Werror and run the unit tests (ctest)
#   3. rebuild under AddressSanitizer + UndefinedBehaviorSanitizer, run them again
#   4. build every libFuzzer target with clang and run each briefly on its corpus
#   5. integration tests (pytest under /usr/bin/python3) against the real binaries
#   6. the wire-input integration tests again, against the ASan + UBSan binaries
# Environment:
#   RMQ_FUZZ_SECONDS  seconds per fuzz target (default 15)
#   RMQ_SOAK=1        long runs: 300 s per fuzz target, 1000 WAL crash iterations,
#                     more kill -9 rounds in the integration tests, every
#                     integration file against the ASan + UBSan build
#   RMQ_SKIP=...      space-separated phases to skip (unit asan fuzz integration
#                     asan-integration)
# Prints a closing line "summary: N passed, N failed" counting every test run.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${RMQ_JOBS:-$(nproc)}
FUZZ_SECONDS=${RMQ_FUZZ_SECONDS:-15}
if [ "${RMQ_SOAK:-0}" = 1 ]; then
  FUZZ_SECONDS=${RMQ_FUZZ_SECONDS:-300}
  export RMQ_CRASH_ITERATIONS=${RMQ_CRASH_ITERATIONS:-1000}
fi
SKIP=" ${RMQ_SKIP:-} "
passed=0; failed=0; failures=()

scripts/deps.sh test || { echo "deps: installation failed" >&2; exit 1; }
# s3rver (npm) is the S3 endpoint of the object-store tests; kafkajs (npm) is
# the JavaScript client of test_kafkajs.py
tests/tools/s3rver.sh install >/dev/null || { echo "deps: installing s3rver with npm failed" >&2; exit 1; }
tests/tools/kafkajs.sh install >/dev/null || { echo "deps: installing kafkajs with npm failed" >&2; exit 1; }

note() { printf '\n=== %s ===\n' "$*"; }
count_ctest() { # $1 = log, $2 = phase
  local line n f
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -1)
  if [ -z "$line" ]; then failed=$((failed + 1)); failures+=("$2: no ctest summary"); return; fi
  n=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
  f=$(sed -E 's/.*tests passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
  passed=$((passed + n - f)); failed=$((failed + f))
  [ "$f" -eq 0 ] || failures+=("$2: $f unit test(s) failed")
}

build() { # $1 = dir, rest = cmake args
  local dir=$1; shift
  cmake -S . -B "$dir" -G Ninja "$@" >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; return 1; }
  if ninja -C "$dir" -j "$JOBS" >"$dir.build.log" 2>&1; then
    echo "built $dir ($(grep -c 'Building C' "$dir.build.log") files compiled)"
  else
    grep -E 'error|FAILED' "$dir.build.log" | head -40; return 1
  fi
}

if [[ $SKIP != *" unit "* ]]; then
  note "unit tests (-Werror)"
  mkdir -p build
  if build build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRMQ_WERROR=ON; then
    ctest --test-dir build --output-on-failure -j "$JOBS" 2>&1 | tee build/ctest.log
    count_ctest build/ctest.log unit
  else
    failed=$((failed + 1)); failures+=("unit: build failed")
  fi
fi

if [[ $SKIP != *" asan "* ]]; then
  note "unit tests under ASan + UBSan"
  mkdir -p build-asan
  if build build-asan -DCMAKE_BUILD_TYPE=Debug -DRMQ_SANITIZE=ON; then
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir build-asan --output-on-failure -j "$JOBS" 2>&1 | tee build-asan/ctest.log
    count_ctest build-asan/ctest.log asan
  else
    failed=$((failed + 1)); failures+=("asan: build failed")
  fi
fi

if [[ $SKIP != *" fuzz "* ]]; then
  note "fuzz targets (${FUZZ_SECONDS}s each)"
  mkdir -p build-fuzz
  if CC=clang build build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRMQ_FUZZ=ON; then
    for t in build-fuzz/fuzz_*; do
      [ -x "$t" ] || continue
      name=$(basename "$t"); short=${name#fuzz_}
      work=build-fuzz/corpus-$short; rm -rf "$work"; mkdir -p "$work"
      [ -d tests/fuzz/corpus/$short ] && cp -r tests/fuzz/corpus/$short/. "$work/"
      if "$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
           -artifact_prefix=build-fuzz/"$name"- "$work" >build-fuzz/$name.log 2>&1; then
        echo "fuzz $name: ok ($(grep -E 'stat::number_of_executed_units' build-fuzz/$name.log | awk '{print $2}') runs)"
        passed=$((passed + 1))
      else
        echo "fuzz $name: FAILED"; tail -40 build-fuzz/$name.log
        failed=$((failed + 1)); failures+=("fuzz: $name")
      fi
    done
  else
    failed=$((failed + 1)); failures+=("fuzz: build failed")
  fi
fi

count_pytest() { # $1 = log, $2 = pytest's exit code, $3 = phase
  local line p f e
  line=$(grep -E '^(=+ )?[0-9]+ (passed|failed)' "$1" | tail -1)
  p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
  f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
  e=$(grep -oE '[0-9]+ error' <<<"$line" | grep -oE '[0-9]+' || echo 0)
  passed=$((passed + p)); failed=$((failed + f + e))
  if [ "$2" -ne 0 ] && [ "$2" -ne 5 ] && [ $((f + e)) -eq 0 ]; then
    failed=$((failed + 1)); failures+=("$3: pytest exit $2")
  fi
  [ $((f + e)) -gt 0 ] && failures+=("$3: $f failed, $e errors")
}

if [[ $SKIP != *" integration "* ]] && ls tests/integration/test_*.py >/dev/null 2>&1; then
  note "integration tests (pytest, real binaries on 127.0.0.1)"
  export RMQ_BUILD_DIR=$ROOT/build
  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration 2>&1 | tee build/pytest.log
  count_pytest build/pytest.log "${PIPESTATUS[0]}" integration
fi

# The same binaries under ASan + UBSan: the files that feed the broker
# malformed and edge-case wire input (RMQ_SOAK=1: every file). A sanitizer
# report in any broker log fails the test that started it (conftest.py).
if [[ $SKIP != *" asan-integration "* ]] && [ -x build-asan/rustmq-broker ]; then
  note "integration tests against the ASan + UBSan build"
  files="tests/integration/test_errors.py tests/integration/test_produce_validation.py
         tests/integration/test_fetch_limits.py tests/integration/test_protocol_apis.py
         tests/integration/test_list_offsets_metadata.py tests/integration/test_graceful.py"
  [ "${RMQ_SOAK:-0}" = 1 ] && files=tests/integration
  # shellcheck disable=SC2086
  RMQ_BUILD_DIR=$ROOT/build-asan RMQ_SANITIZED=1 UBSAN_OPTIONS=print_stacktrace=1 \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider $files 2>&1 | tee build-asan/pytest.log
  count_pytest build-asan/pytest.log "${PIPESTATUS[0]}" asan-integration
fi

echo
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "summary: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
