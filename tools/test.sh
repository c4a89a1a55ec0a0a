#!/usr/bin/env bash
# Runs the whole test suite verbosely and prints what a reader needs: every
# test's result line (so a skipped integration test is visible), each
# package's verdict, a count, and on failure the full output of the failing
# packages. Three passes, each into its own log under out/:
#   unit.log         every package but integration/ and bench/, with -race
#   integration.log  integration/ and bench/ against the real daemons
#   fuzz.log         every Fuzz* target for FUZZ_TIME (default 10s) each
# The race detector slows the daemons the integration tests start, and those
# test the real binaries anyway, so only the in-process tests run under it.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p out
timeout=${TEST_TIMEOUT:-45m}
fuzztime=${FUZZ_TIME:-10s}
export ZLAYER_BIN=${ZLAYER_BIN:-$PWD/bin}
go build -o bin/zlstack ./integration/cmd/zlstack

mapfile -t all < <(go list ./...)
units=() integ=()
for p in "${all[@]}"; do
  case "$p" in
  */integration | */integration/* | */bench | */bench/*) integ+=("$p") ;;
  *) units+=("$p") ;;
  esac
done

rc=0
failed_logs=()
run() { # log-name go-test-args...
  local log=out/$1.log; shift
  echo "go test $*  (full log: $log)"
  go test "$@" >"$log" 2>&1 || { rc=1; failed_logs+=("$log"); }
}

echo "ZLAYER_INTEGRATION=${ZLAYER_INTEGRATION:-}"
run unit -v -race -count=1 -timeout "$timeout" -p 2 "${units[@]}"

marker=out/.test-start
touch "$marker"
run integration -v -count=1 -timeout "$timeout" -p 2 "${integ[@]}"
# A test that panicked or timed out skips its cleanup; stop the stacks this
# run started and left behind, by the PIDs they recorded.
[ -n "${ZLAYER_KEEP_STACK:-}" ] || for st in $(find /tmp -maxdepth 2 -name stack.json -path '/tmp/zl*' -newer "$marker" 2>/dev/null); do
  echo "stopping a stack a test left behind: $(dirname "$st")"
  bin/zlstack down "$(dirname "$st")" || rc=1
done

# Each fuzzer for a bounded time; a failure leaves its input under the
# package's testdata/fuzz, where the next plain `go test` replays it.
: >out/fuzz.log
fuzz_pass=0 fuzz_fail=0
while read -r pkg name; do
  echo "fuzz $pkg $name for $fuzztime" >>out/fuzz.log
  if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" >>out/fuzz.log 2>&1; then
    echo "--- PASS: $name (fuzz $fuzztime, $pkg)"
    fuzz_pass=$((fuzz_pass + 1))
  else
    echo "--- FAIL: $name (fuzz $fuzztime, $pkg)"
    fuzz_fail=$((fuzz_fail + 1)) rc=1
    failed_logs+=(out/fuzz.log)
  fi
done < <(git ls-files -co --exclude-standard '*_test.go' | grep -Ev '^(integration|bench)/' |
  xargs grep -H '^func Fuzz[A-Za-z0-9_]*(' | sed -E 's#^(.*)/[^/]*:func (Fuzz[A-Za-z0-9_]*)\(.*#./\1 \2#' | sort)

# The console's front-end unit tests (Vitest), where node and npm are.
ui_pass=0 ui_fail=0
if command -v npm >/dev/null 2>&1; then
  echo "vitest ui/  (full log: out/ui.log)"
  if (cd ui && npm ci --no-audit --no-fund && npm test) >out/ui.log 2>&1; then
    echo "--- PASS: vitest ui/"; ui_pass=1
  else
    echo "--- FAIL: vitest ui/"; ui_fail=1 rc=1
    failed_logs+=(out/ui.log)
  fi
else
  echo "--- SKIP: vitest ui/ (no npm: make deps installs it)"
fi

logs=(out/unit.log out/integration.log)
grep -hE '^\s*--- (PASS|FAIL|SKIP)|^(ok|FAIL|---)\s|^panic:|build failed|\[setup failed\]|WARNING: DATA RACE' "${logs[@]}"
pass=$(($(cat "${logs[@]}" | grep -cE '^\s*--- PASS') + fuzz_pass + ui_pass))
fail=$(($(cat "${logs[@]}" | grep -cE '^\s*--- FAIL') + fuzz_fail + ui_fail))
skip=$(cat "${logs[@]}" | grep -cE '^\s*--- SKIP')
if [ $rc -ne 0 ]; then
  echo
  echo "==== output of failing packages (last 400 lines each) ===="
  for log in $(printf '%s\n' "${failed_logs[@]}" | sort -u); do
    if [ "$log" = out/fuzz.log ] || [ "$log" = out/ui.log ]; then tail -n 100 "$log"; continue; fi
    awk '/^=== RUN/ && !inpkg {inpkg=1; buf=""} {buf=buf $0 "\n"} /^(ok|FAIL)[ \t]/ {if ($1=="FAIL") printf "%s", buf; buf=""; inpkg=0}' "$log" | tail -n 400
  done
  [ "$fail" -eq 0 ] && fail=1
fi
echo
echo "tests: $pass passed, $fail failed, $skip skipped"
exit $rc
