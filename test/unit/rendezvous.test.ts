import { describe, expect, it } from "vitest";
import type { ResourceKind } from "../../src/broker/types.ts";
import { hash53, rendezvousScore, rendezvousServingNode } from "../../src/cluster/rendezvous.ts";

const members = (...ids: string[]) => ids.map((id) => ({ id }));
const keyCount = 12_000;
const keys: { kind: ResourceKind; name: string }[] = Array.from({ length: keyCount }, (_, index) => ({
  kind: index % 2 === 0 ? "queue" : "topic",
  name: `orders.eu-${index}`,
}));

function owners(ids: string[]): string[] {
  const list = members(...ids);
  return keys.map(({ kind, name }) => rendezvousServingNode(list, kind, name)?.id ?? "none");
}

function shares(assigned: string[], ids: string[]): number[] {
  return ids.map((id) => assigned.filter((owner) => owner === id).length / assigned.length);
}

describe("hash53", () => {
  it("returns a stable non-negative integer below 2^53", () => {
    for (const text of ["", "a", "node-1\0queue\0orders", "ü✓"]) {
      const value = hash53(text);
      expect(Number.isSafeInteger(value)).toBe(true);
      expect(value).toBeGreaterThanOrEqual(0);
      expect(hash53(text)).toBe(value);
    }
  });

  it("spreads inputs that differ in one character", () => {
    const values = new Set(Array.from({ length: 10_000 }, (_, index) => hash53(`key-${index}`) % 1024));
    // 10k values into 1024 buckets: nearly every bucket is hit.
    expect(values.size).toBeGreaterThan(1000);
  });
});

describe("rendezvousServingNode", () => {
  it("is undefined only without members", () => {
    expect(rendezvousServingNode([], "queue", "q")).toBeUndefined();
    expect(rendezvousServingNode(members("solo"), "queue", "q")?.id).toBe("solo");
  });

  it("does not depend on the order of the member list", () => {
    const forward = members("a", "b", "c", "d");
    const backward = [...forward].reverse();
    const differing = keys.filter(
      ({ kind, name }) =>
        rendezvousServingNode(backward, kind, name)?.id !== rendezvousServingNode(forward, kind, name)?.id,
    );
    expect(differing).toEqual([]);
  });

  it("keeps kind and name apart in the score", () => {
    expect(rendezvousScore("n", "queue", "a")).not.toBe(rendezvousScore("n", "topic", "a"));
    expect(rendezvousScore("n.a", "queue", "b")).not.toBe(rendezvousScore("n", "queue", "a.b"));
  });

  it.each([[["node-1", "node-2", "node-3"]], [["node-1", "node-2", "node-3", "node-4"]]])(
    "spreads resources evenly over %j",
    (ids) => {
      for (const share of shares(owners(ids), ids)) {
        expect(share).toBeGreaterThan((1 / ids.length) * 0.9);
        expect(share).toBeLessThan((1 / ids.length) * 1.1);
      }
    },
  );

  it("moves only ~1/4 of the resources when a 4th member joins, all of them to the newcomer", () => {
    const before = owners(["node-1", "node-2", "node-3"]);
    const after = owners(["node-1", "node-2", "node-3", "node-4"]);
    const moved = before.map((owner, index) => (owner === after[index] ? undefined : after[index]));
    const movedTo = moved.filter((owner) => owner !== undefined);
    expect(movedTo.length / keyCount).toBeGreaterThan(0.22);
    expect(movedTo.length / keyCount).toBeLessThan(0.28);
    expect(new Set(movedTo)).toEqual(new Set(["node-4"]));
  });

  it("moves only the leaving member's resources when one leaves", () => {
    const before = owners(["node-1", "node-2", "node-3", "node-4"]);
    const after = owners(["node-1", "node-3", "node-4"]);
    const wronglyMoved = before.filter((owner, index) => owner !== "node-2" && after[index] !== owner);
    expect(wronglyMoved).toEqual([]);
    expect(after).not.toContain("node-2");
  });
});
