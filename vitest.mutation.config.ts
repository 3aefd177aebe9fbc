import { defineConfig } from "vitest/config";

// The tests StrykerJS runs against each mutant (stryker.config.mjs): the unit
// suite, which needs no network or services, and for the store group also
// the SQLite store's conformance (a file on disk; no MariaDB, no global setup).
const storeGroup = process.env.STRYKER_GROUP === "store";

export default defineConfig({
  test: {
    include: ["test/unit/**/*.test.ts", ...(storeGroup ? ["test/integration/store-sqlite.test.ts"] : [])],
    ...(storeGroup ? { testTimeout: 60_000, hookTimeout: 120_000 } : {}),
  },
});
