// Mutation testing of the broker core (src/broker) with StrykerJS:
// `npm run test:mutation` (scripts/mutation.sh) runs one group of files at a
// time, named by STRYKER_GROUP; the scores are recorded in docs/architecture.md ("Testing").
const groups = {
  shared: ["src/broker/*.ts", "!src/broker/types.ts"],
  topic: ["src/broker/topic/*.ts", "!src/broker/topic/*-ports.ts"],
  queue: ["src/broker/queue/*.ts", "!src/broker/queue/*-ports.ts"],
};
const group = process.env.STRYKER_GROUP ?? "shared";
if (!(group in groups)) throw new Error(`STRYKER_GROUP is one of ${Object.keys(groups).join(", ")}`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.mutation.config.ts" },
  mutate: groups[group],
  coverageAnalysis: "perTest",
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: `reports/mutation/${group}.html` },
  jsonReporter: { fileName: `reports/mutation/${group}.json` },
  concurrency: 2,
  timeoutMS: 10_000,
  thresholds: { high: 90, low: 80, break: null },
  tempDirName: `.stryker-tmp-${group}`,
  cleanTempDir: "always",
};
