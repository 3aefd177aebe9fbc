import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { AvisoClientError, CLIENT_REASONS, SERVER_REASONS } from "../src/index.ts";
import { backoffDelayMs } from "../src/options.ts";

const errorsDoc = readFileSync(new URL("../../../docs/errors.md", import.meta.url), "utf8");

describe("AvisoClientError", () => {
  it("knows every reason docs/errors.md documents, and its own reasons are distinct from them", () => {
    const documented = [...errorsDoc.matchAll(/^\| `([A-Z_]+)` \| `[a-z_]+` \| \d{3} \|/gm)].map((m) => m[1]);
    expect([...SERVER_REASONS].sort()).toEqual(documented.sort());
    for (const reason of Object.keys(CLIENT_REASONS)) expect(SERVER_REASONS).not.toContain(reason);
  });

  it("keeps a server error's code, reason, message, details and status", () => {
    const error = AvisoClientError.fromServer(
      {
        code: "invalid_argument",
        reason: "OFFSET_OUT_OF_RANGE",
        message: "too far",
        details: { nextOffset: 4 },
      },
      400,
    );
    expect(error).toMatchObject({
      name: "AvisoClientError",
      code: "invalid_argument",
      reason: "OFFSET_OUT_OF_RANGE",
      message: "too far",
      status: 400,
      details: { nextOffset: 4 },
    });
    expect(AvisoClientError.from(new Error("boom"))).toMatchObject({
      reason: "NETWORK_ERROR",
      code: "unavailable",
    });
    expect(AvisoClientError.from(error)).toBe(error);
  });
});

describe("reconnect backoff", () => {
  it("doubles per attempt up to the cap, with jitter taken off the top", () => {
    const reconnect = { initialDelayMs: 100, maxDelayMs: 1000, jitter: 0.5 };
    expect([1, 2, 3, 4, 5].map((attempt) => backoffDelayMs(attempt, reconnect, () => 0))).toEqual([
      100, 200, 400, 800, 1000,
    ]);
    expect(backoffDelayMs(3, reconnect, () => 1)).toBe(200);
    expect(backoffDelayMs(3, { ...reconnect, jitter: 0 }, () => 1)).toBe(400);
  });
});
