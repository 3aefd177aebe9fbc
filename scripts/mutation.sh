#!/usr/bin/env bash
# Mutation testing of the broker core (src/broker) with StrykerJS, one group
# of files at a time (stryker.config.mjs), so each group's report is written
# even if a later group is stopped: reports/mutation/<group>.{json,html}.
# Bounded: each group stops after AVISO_MUTATION_GROUP_MINUTES (default 60).
# Usage: npm run test:mutation [-- group…]   (default: shared topic queue)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${AVISO_MUTATION_GROUP_MINUTES:-60}"
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(shared topic queue)
for group in "${groups[@]}"; do
  STRYKER_GROUP="$group" timeout "$((minutes * 60))" npx stryker run
done
node scripts/mutation-score.mjs "${groups[@]}"
