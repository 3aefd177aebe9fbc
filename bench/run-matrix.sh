#!/usr/bin/env bash
# Runs the configurations reported in RESULTS.md, one after the other, each
# after waiting (at most WAIT_MAX_S seconds) for the 1-minute load average to
# drop below MAX_LOAD and other processes to use under QUIET_PCT % of a core,
# and appends every RESULT line to OUT.
#
#   bash bench/run-matrix.sh [queue|fanout|all]     (env: OUT, MAX_LOAD=0.7, QUIET_PCT=20,
#                                                   WAIT_MAX_S=900, SECONDS_PER_RUN=15)
set -euo pipefail
cd "$(dirname "$0")/.."

WHICH="${1:-all}"
OUT="${OUT:-bench/results/$(date -u +%Y%m%dT%H%M%SZ).jsonl}"
mkdir -p "$(dirname "$OUT")"
MAX_LOAD="${MAX_LOAD:-0.7}"
WAIT_MAX_S="${WAIT_MAX_S:-900}"
QUIET_PCT="${QUIET_PCT:-20}"
S="${SECONDS_PER_RUN:-15}"

# CPU-seconds all cores were busy, from /proc/stat (user nice system irq softirq steal).
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# Percent of one core the machine was busy over 5 s (between runs, that is everyone else).
others_pct() {
  local a b
  a=$(busy_ticks); sleep 5; b=$(busy_ticks)
  echo $(( (b - a) * 100 / ($(getconf CLK_TCK) * 5) ))
}

# Waits until others use less than QUIET_PCT % of a core and the load average is under MAX_LOAD,
# for at most WAIT_MAX_S seconds.
wait_for_quiet() {
  local waited=0 pct
  while :; do
    pct=$(others_pct)
    if (( pct < QUIET_PCT )) && awk -v max="$MAX_LOAD" '{ exit !($1 < max) }' /proc/loadavg; then return; fi
    if (( waited >= WAIT_MAX_S )); then
      echo "still busy (others ${pct}% of a core, load $(cut -d' ' -f1 /proc/loadavg)) after ${WAIT_MAX_S}s; running anyway" >&2
      return
    fi
    sleep 5
    waited=$((waited + 10))
  done
}

run() {
  local label="$1"
  shift
  wait_for_quiet
  echo "== ${label} (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  node --import tsx "$@" --seconds "$S" --label "$label" --out "$OUT" || echo "run ${label} failed" >&2
}

if [[ "$WHICH" == queue || "$WHICH" == all ]]; then
  run "queue mysql ws" bench/queue-pipeline.ts --store mysql
  run "queue sqlite ws" bench/queue-pipeline.ts --store sqlite
  run "queue mysql rest single" bench/queue-pipeline.ts --store mysql --publish rest --batch 1
  run "queue mysql rest batch 50" bench/queue-pipeline.ts --store mysql --publish rest --batch 50
  run "queue mysql ws rate 2000" bench/queue-pipeline.ts --store mysql --rate 2000
fi
if [[ "$WHICH" == fanout || "$WHICH" == all ]]; then
  run "fanout 100 max" bench/topic-fanout.ts --subscribers 100
  run "fanout 1000 max" bench/topic-fanout.ts --subscribers 1000
  run "fanout 100 rate 100" bench/topic-fanout.ts --subscribers 100 --rate 100
  run "fanout 1000 rate 100" bench/topic-fanout.ts --subscribers 1000 --rate 100
  run "fanout 1000 rate 200 (2 procs)" bench/topic-fanout.ts --subscribers 1000 --rate 200 --procs 2
  run "fanout 100 max in-memory" bench/topic-fanout.ts --subscribers 100 --durable false
  run "fanout 1000 max in-memory" bench/topic-fanout.ts --subscribers 1000 --durable false
fi
echo "results in ${OUT}" >&2
