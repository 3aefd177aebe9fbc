import { describe, expect, it } from "vitest";
import { errorFrame } from "../../src/edge/ws/frames.ts";
import { AvisoError } from "../../src/errors/aviso-error.ts";

describe("AvisoError", () => {
  it("tells clients whether to repeat a request, only when the failure is transient", () => {
    expect(new AvisoError("FENCED").toBody().error.retry).toBe("always");
    expect(new AvisoError("STORE_UNAVAILABLE").toBody().error.retry).toBe("if-idempotent");
    expect("retry" in new AvisoError("QUEUE_NOT_FOUND").toBody().error).toBe(false);
  });

  it("carries the same rule in WebSocket error frames", () => {
    expect(JSON.parse(errorFrame(new AvisoError("OWNER_UNAVAILABLE"), { id: 3 }))).toMatchObject({
      op: "error",
      id: 3,
      reason: "OWNER_UNAVAILABLE",
      retry: "if-idempotent",
    });
    expect(JSON.parse(errorFrame(new AvisoError("ACCESS_DENIED")))).not.toHaveProperty("retry");
  });

  it("lets cluster routing retry only what a new route can mend", () => {
    expect(new AvisoError("FENCED").reroutable).toBe(true);
    expect(new AvisoError("OWNER_UNAVAILABLE").reroutable).toBe(true);
    expect(new AvisoError("STORE_UNAVAILABLE").reroutable).toBe(false);
    expect(new AvisoError("QUEUE_FULL").reroutable).toBe(false);
  });

  it("turns anything else thrown into INTERNAL, which is never retried", () => {
    const error = AvisoError.from(new TypeError("boom"));
    expect(error.reason).toBe("INTERNAL");
    expect(error.retry).toBe("never");
  });
});
