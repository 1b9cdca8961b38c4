#!/usr/bin/env bash
# `npm run test:load`: the whole suite (npm test) while two CPU-bound processes of this script's
# own load the machine, as a busy CI machine or developer laptop would (issue 18: the suite must
# hold there). It starts the load itself and stops it when the suite ends, whatever happens.
set -uo pipefail
cd "$(dirname "$0")/.."
burn() {
  # one core's worth of arithmetic, for at most 90 minutes (CI's limit)
  node -e 'const end = Date.now() + 5_400_000; let x = 0; while (Date.now() < end) x = Math.sqrt(x + 1)' &
}
burn
first=$!
burn
second=$!
trap 'kill "$first" "$second" 2>/dev/null' EXIT
started=$(date +%s)
npm test
rc=$?
echo "npm test under the load of 2 CPU-bound processes: exit $rc in $(($(date +%s) - started)) s (load average $(cut -d' ' -f1-3 /proc/loadavg))"
exit "$rc"
