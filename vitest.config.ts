import { configDefaults, defineConfig } from "vitest/config";

// Three suites: unit (no network, no real timers), integration (real MariaDB,
// SQLite and uWS on port 0, started by test/helpers), cluster (real ZooKeeper
// + MariaDB + several node processes).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts", "clients/**/test/**/*.test.ts"],
          // The SDK's failover tests need a real cluster: they run in the "cluster" project.
          exclude: [...configDefaults.exclude, "clients/js/test/cluster/**"],
          globalSetup: ["test/helpers/global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "cluster",
          include: ["test/cluster/**/*.test.ts", "clients/js/test/cluster/**/*.test.ts"],
          globalSetup: ["test/helpers/global-setup.ts"],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
