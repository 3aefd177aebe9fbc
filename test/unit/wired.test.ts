import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { logEvents } from "../../src/log/events.ts";
import { createMetrics } from "../../src/metrics/metrics.ts";

/** The node's sources, without the two tables checked here. */
function sources(): string {
  const src = new URL("../../src/", import.meta.url);
  return readdirSync(src, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts") && !["log/events.ts", "metrics/metrics.ts"].includes(file))
    .map((file) => readFileSync(new URL(file, src), "utf8"))
    .join("\n");
}

// Issue 11, item 7 ("wired or gone"): a log event or a metric nobody emits promises operators a
// signal they never get. Every row of the two tables is used somewhere in src/.
describe("log events and metrics", () => {
  const text = sources();

  it("every log event is emitted somewhere", () => {
    const unused = Object.keys(logEvents).filter((name) => !text.includes(`logEvents.${name}(`));
    expect(unused).toEqual([]);
  });

  it("every metric handle is updated somewhere", () => {
    const handles = Object.keys(createMetrics()).filter(
      (name) => !["registry", "scrape", "setQueueStatsSource", "setQueueMemorySource"].includes(name),
    );
    const unused = handles.filter((name) => !new RegExp(`\\.${name}\\.(inc|dec|set|observe)\\(`).test(text));
    expect(unused).toEqual([]);
  });
});
