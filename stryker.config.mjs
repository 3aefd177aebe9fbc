// Mutation testing of the broker core (src/broker), the application layer
// (src/app) and the store (src/store, SQLite backend) with StrykerJS:
// `npm run test:mutation` (scripts/mutation.sh) runs one group of files at a
// time, named by STRYKER_GROUP; vitest.mutation.config.ts picks the tests a
// group runs. The scores are recorded in docs/architecture.md ("Testing").
// Pure type and port files are left out: they have no code to mutate.
const groups = {
  shared: ["src/broker/*.ts", "!src/broker/types.ts"],
  topic: ["src/broker/topic/*.ts", "!src/broker/topic/*-ports.ts"],
  queue: ["src/broker/queue/*.ts", "!src/broker/queue/*-ports.ts", "!src/broker/queue/queue-entry.ts"],
  app: ["src/app/**/*.ts", "!src/app/cluster-info.ts", "!src/app/context.ts", "!src/app/serving-nodes.ts"],
  // The MySQL backend (src/store/mysql) is not in it: its conformance needs
  // the MariaDB the integration harness starts. The commit thread's entry
  // and its message loop run only inside a worker thread, where Stryker sees
  // no coverage.
  store: [
    "src/store/*.ts",
    "src/store/sqlite/*.ts",
    "!src/store/store.ts",
    "!src/store/api-key-record.ts",
    "!src/store/sqlite/sqlite-commit-worker.ts",
    "!src/store/commit-thread-serve.ts",
  ],
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
