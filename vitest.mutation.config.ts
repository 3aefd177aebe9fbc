import { defineConfig } from "vitest/config";

// The tests StrykerJS runs against each mutant of the broker core
// (stryker.config.mjs): the unit suite, which needs no network or services.
export default defineConfig({
  test: {
    include: ["test/unit/**/*.test.ts"],
  },
});
