// Prints each group's mutation score from reports/mutation/<group>.json
// (mutation-testing-report-schema): killed + timed out over all valid mutants.
import { readFileSync } from "node:fs";

const detected = new Set(["Killed", "Timeout"]);
const valid = new Set(["Killed", "Timeout", "Survived", "NoCoverage"]);
let totalDetected = 0;
let totalValid = 0;
for (const group of process.argv.slice(2)) {
  const report = JSON.parse(readFileSync(`reports/mutation/${group}.json`, "utf8"));
  for (const [file, result] of Object.entries(report.files)) {
    const mutants = result.mutants.filter((mutant) => valid.has(mutant.status));
    const found = mutants.filter((mutant) => detected.has(mutant.status)).length;
    totalDetected += found;
    totalValid += mutants.length;
    const score = mutants.length === 0 ? 100 : (100 * found) / mutants.length;
    console.log(`${score.toFixed(1).padStart(6)} %  ${String(found).padStart(4)}/${mutants.length}  ${file}`);
  }
}
if (totalValid > 0)
  console.log(`${((100 * totalDetected) / totalValid).toFixed(1)} % of ${totalValid} mutants overall`);
