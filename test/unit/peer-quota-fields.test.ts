import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  PublishInputSchema,
  ReceiveRequestSchema,
} from "../../src/cluster/peer/gen/aviso/peer/v1/peer_pb.ts";
import { queueInputFromWire, queueInputToWire } from "../../src/cluster/peer/peer-codec.ts";

describe("peer wire: what quotas need on the serving node", () => {
  it("carries a queue publish's publisher, so the serving node charges the right user", () => {
    const wire = queueInputToWire({ payload: '"x"', headers: null, delayMs: 0, publisher: "alice" });
    const decoded = queueInputFromWire(fromBinary(PublishInputSchema, toBinary(PublishInputSchema, wire)));
    expect(decoded).toEqual({ payload: '"x"', headers: null, delayMs: 0, publisher: "alice" });
  });

  it("carries a receive's byte bound, and its absence", () => {
    const bounded = create(ReceiveRequestSchema, { queue: "q", max: 5, waitMs: 0, maxBytes: 8192 });
    expect(fromBinary(ReceiveRequestSchema, toBinary(ReceiveRequestSchema, bounded)).maxBytes).toBe(8192);
    const unbounded = create(ReceiveRequestSchema, { queue: "q", max: 5, waitMs: 0 });
    expect(
      fromBinary(ReceiveRequestSchema, toBinary(ReceiveRequestSchema, unbounded)).maxBytes,
    ).toBeUndefined();
  });
});
