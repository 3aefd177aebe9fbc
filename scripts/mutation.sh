#!/usr/bin/env bash
# Mutation testing with StrykerJS (stryker.config.mjs): the broker core
# (src/broker: shared, topic, queue), the application layer (app) and the
# store with its SQLite backend (store), one group of files at a time, so each
# group's report is written even if another group is stopped:
# reports/mutation/<group>.{json,html}.
# Bounded: each group stops after AVISO_MUTATION_GROUP_MINUTES (default 60);
# a group stopped or failed does not stop the next, but fails the run.
# Usage: npm run test:mutation [-- group…]   (default: every group)
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${AVISO_MUTATION_GROUP_MINUTES:-60}"
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(shared topic queue app store)
failed=()
scored=()
for group in "${groups[@]}"; do
  rm -f "reports/mutation/$group.json"
  if STRYKER_GROUP="$group" timeout "$((minutes * 60))" npx stryker run; then
    scored+=("$group")
  else
    echo "mutation: group $group failed or passed its bound of $minutes minutes (AVISO_MUTATION_GROUP_MINUTES)" >&2
    failed+=("$group")
  fi
done
[ ${#scored[@]} -eq 0 ] || node scripts/mutation-score.mjs "${scored[@]}"
[ ${#failed[@]} -eq 0 ]
