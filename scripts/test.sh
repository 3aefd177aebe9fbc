#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need when it
# is missing, then runs lint, type checks and every test suite against real
# MariaDB and ZooKeeper servers that the test harness starts itself.
set -euo pipefail
cd "$(dirname "$0")/.."

need_packages=()
command -v mariadbd >/dev/null 2>&1 || need_packages+=(mariadb-server)
[ -f /usr/share/java/zookeeper.jar ] || need_packages+=(zookeeper)
command -v nc >/dev/null 2>&1 || need_packages+=(netcat-openbsd)
[ -x /usr/bin/chromium ] || need_packages+=(chromium)
if [ ${#need_packages[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Tests need Debian packages: ${need_packages[*]}. Install them (sudo apt-get install -y ${need_packages[*]}) or run as root." >&2
    exit 1
  fi
  echo "Installing ${need_packages[*]} …"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_packages[@]}" >/dev/null
fi

[ -d node_modules ] || npm ci

echo "== lint"; npx biome check .
echo "== typecheck"; npx tsc -p tsconfig.json --noEmit

# A hung test must fail the run, not hang CI: vitest bounds each test and hook
# (vitest.config.ts), and all suites together get this wall-clock bound. On
# expiry `timeout` signals the whole process group (vitest, its workers, the
# nodes and servers the harness started), then kills what is left 30 s later.
test_minutes=${AVISO_TEST_TIMEOUT_MINUTES:-40}
deadline=$((SECONDS + test_minutes * 60))
results=$(mktemp -d)
status=0
for project in unit integration cluster; do
  remaining=$((deadline - SECONDS))
  if [ "$remaining" -le 0 ]; then
    echo "== tests: $project NOT RUN: the ${test_minutes}-minute bound on all tests is spent" >&2
    status=1
    continue
  fi
  echo "== tests: $project"
  code=0
  timeout --kill-after=30 "$remaining" \
    npx vitest run --project "$project" --reporter=default --reporter=json --outputFile="$results/$project.json" || code=$?
  if [ "$code" -eq 124 ] || [ "$code" -eq 137 ]; then
    echo "== tests: $project STOPPED: all tests together passed the ${test_minutes}-minute bound (AVISO_TEST_TIMEOUT_MINUTES); a test or hook is probably hung" >&2
  fi
  [ "$code" -eq 0 ] || status=1
done

node -e '
const fs = require("fs");
let passed = 0, failed = 0, skipped = 0;
for (const file of fs.readdirSync(process.argv[1])) {
  let report;
  try {
    report = JSON.parse(fs.readFileSync(process.argv[1] + "/" + file, "utf8"));
  } catch {
    failed += 1; // a suite stopped mid-write (the time bound): its report is cut short
    continue;
  }
  passed += report.numPassedTests; failed += report.numFailedTests;
  skipped += report.numPendingTests + report.numTodoTests;
  if (report.numFailedTestSuites > 0 && report.numFailedTests === 0) failed += report.numFailedTestSuites;
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
' "$results"
rm -rf "$results"
exit $status
